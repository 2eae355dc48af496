namespace Fathom.Models;

/// <summary>
/// A GGUF file cannot be run as a model: unknown architecture, a missing or misshapen tensor, an
/// unsupported tensor type or an inconsistent hyper-parameter. The message names the culprit.
/// </summary>
public sealed class ModelFormatException(string message) : Exception(message);
