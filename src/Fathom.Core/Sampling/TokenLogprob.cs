namespace Fathom.Sampling;

/// <summary>A token and its log-probability under the model's raw distribution (log-softmax of the logits, before the chain).</summary>
public readonly record struct TokenLogprob(int TokenId, float Logprob);
