namespace Fathom.Models;

/// <summary>
/// Receives named intermediates of a forward pass, named as llama.cpp names them (<c>attn_norm-0</c>,
/// <c>Qcur-0</c>, <c>kqv_out-0</c>, <c>l_out-1</c>, <c>result_norm</c>, ...). <paramref name="values"/> holds
/// one row of <paramref name="rowLength"/> floats per token of the batch (ggml shape [rowLength, tokens]).
/// A name can repeat within a layer, as in llama.cpp: <c>Qcur-N</c> is first the projection, then the
/// same tensor after RoPE. The span is only valid during the call.
/// </summary>
public delegate void ActivationTap(string name, ReadOnlySpan<float> values, int rowLength);
