using System.Text;

namespace Fathom.Sampling;

/// <summary>
/// Finds stop sequences in streamed text that may split them across tokens. <see cref="Push"/> returns only text
/// that can no longer be the start of a stop sequence; the rest is held back until it either completes a stop
/// sequence (then it and everything after it are dropped and <see cref="Stopped"/> is set) or can't (then it is
/// released). Call <see cref="Flush"/> when generation ends for another reason to release what is held.
/// </summary>
public sealed class StopSequenceMatcher
{
    private readonly string[] _stops;
    private readonly StringBuilder _held = new();

    public StopSequenceMatcher(IEnumerable<string> stopSequences)
    {
        ArgumentNullException.ThrowIfNull(stopSequences);
        _stops = [.. stopSequences];
        foreach (string s in _stops)
            if (string.IsNullOrEmpty(s)) throw new SamplingException("stop sequences must be non-empty strings");
    }

    /// <summary>True once a stop sequence has been seen; later pushes are ignored.</summary>
    public bool Stopped { get; private set; }

    /// <summary>The stop sequence that ended the text, or null.</summary>
    public string? MatchedSequence { get; private set; }

    /// <summary>How many characters are currently held back.</summary>
    public int HeldLength => _held.Length;

    /// <summary>Adds decoded text; returns the part that is now safe to emit (possibly empty).</summary>
    public string Push(ReadOnlySpan<char> text)
    {
        if (Stopped) return "";
        if (_stops.Length == 0) return text.ToString();
        _held.Append(text);
        string held = _held.ToString();
        int stopAt = -1;
        foreach (string s in _stops)
        {
            int at = held.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0 && (stopAt < 0 || at < stopAt))
            {
                stopAt = at;
                MatchedSequence = s;
            }
        }
        if (stopAt >= 0)
        {
            Stopped = true;
            _held.Clear();
            return held[..stopAt];
        }
        int keepFrom = HoldFrom(held);
        _held.Remove(0, keepFrom);
        return held[..keepFrom];
    }

    /// <summary>Releases everything held (generation ended without a stop sequence).</summary>
    public string Flush()
    {
        string rest = _held.ToString();
        _held.Clear();
        return rest;
    }

    /// <summary>The earliest index whose suffix is a proper prefix of some stop sequence (text.Length if none).</summary>
    private int HoldFrom(string text)
    {
        int longest = 0;
        foreach (string s in _stops) longest = Math.Max(longest, s.Length - 1);
        for (int start = Math.Max(0, text.Length - longest); start < text.Length; start++)
        {
            ReadOnlySpan<char> tail = text.AsSpan(start);
            foreach (string s in _stops)
                if (s.Length > tail.Length && s.AsSpan().StartsWith(tail, StringComparison.Ordinal)) return start;
        }
        return text.Length;
    }
}
