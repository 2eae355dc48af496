namespace Fathom.Tokenization;

/// <summary>The tokenizer metadata of a GGUF cannot be used (missing, inconsistent or unsupported), or an id is out of range.</summary>
public sealed class TokenizerException(string message) : Exception(message);
