namespace Fathom.Sampling;

/// <summary>Invalid sampling parameters or input (a bad option value, a logits span of the wrong size).</summary>
public sealed class SamplingException : Exception
{
    public SamplingException(string message) : base(message) { }

    public SamplingException(string message, Exception innerException) : base(message, innerException) { }

    public SamplingException() { }
}
