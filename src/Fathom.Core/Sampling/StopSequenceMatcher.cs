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
        int stopAt = FirstStop(held, out string? matched);
        int keepFrom = HoldFrom(held);
        // A complete stop wins unless a stop starting earlier may still complete (then the earliest one decides).
        if (stopAt >= 0 && keepFrom >= stopAt) return Stop(held, stopAt, matched);
        if (stopAt >= 0) keepFrom = Math.Min(keepFrom, stopAt);
        _held.Remove(0, keepFrom);
        return held[..keepFrom];
    }

    /// <summary>Releases what is held when generation ends; a stop that was waiting on an earlier partial one still ends the text.</summary>
    public string Flush()
    {
        string rest = _held.ToString();
        int stopAt = FirstStop(rest, out string? matched);
        if (stopAt >= 0) return Stop(rest, stopAt, matched);
        _held.Clear();
        return rest;
    }

    private string Stop(string held, int at, string? matched)
    {
        Stopped = true;
        MatchedSequence = matched;
        _held.Clear();
        return held[..at];
    }

    /// <summary>The earliest index where a whole stop sequence occurs (−1 if none).</summary>
    private int FirstStop(string text, out string? matched)
    {
        int first = -1;
        matched = null;
        foreach (string s in _stops)
        {
            int at = text.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first))
            {
                first = at;
                matched = s;
            }
        }
        return first;
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
