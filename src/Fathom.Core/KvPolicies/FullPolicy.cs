namespace Fathom.KvPolicies;

/// <summary>
/// <c>full</c>: every position resident and read (the reference). RoPE: keys at their written positions.
/// GQA: nothing to aggregate.
/// </summary>
internal sealed class FullPolicy : KvPolicyBase
{
    public override string Name => "full";
    public override string Parameters => "";
}
