using CsCheck;
using Fathom.Sampling;

namespace Fathom.Tests.Sampling;

public class StopSequenceMatcherTests
{
    private static readonly Gen<string> Text = Gen.Char["ab\n"].Array[0, 30].Select(c => new string(c));
    private static readonly Gen<string[]> Stops = Gen.Char["ab\n"].Array[1, 4].Select(c => new string(c)).Array[1, 3];

    /// <summary>Splits text at random cut points, as tokens would.</summary>
    private static List<string> Split(string text, int seed)
    {
        var rng = new Random(seed);
        var chunks = new List<string>();
        int at = 0;
        while (at < text.Length)
        {
            int len = rng.Next(0, 4);
            len = Math.Min(len, text.Length - at);
            chunks.Add(text.Substring(at, len));
            at += len;
        }
        return chunks;
    }

    [Fact]
    public void Emits_exactly_the_text_before_the_first_stop_for_any_token_split()
    {
        Gen.Select(Text, Stops, Gen.Int).Sample((text, stops, seed) =>
        {
            var m = new StopSequenceMatcher(stops);
            var emitted = new System.Text.StringBuilder();
            foreach (string chunk in Split(text, seed))
            {
                string e = m.Push(chunk);
                emitted.Append(e);
                if (m.Stopped) break;
            }
            if (!m.Stopped) emitted.Append(m.Flush());
            int first = stops.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
            string expected = first < 0 ? text : text[..first];
            return emitted.ToString() == expected && m.Stopped == (first >= 0)
                && (!m.Stopped || text.IndexOf(m.MatchedSequence!, StringComparison.Ordinal) == first);
        });
    }

    [Fact]
    public void Never_emits_text_that_could_still_start_a_stop_sequence()
    {
        Gen.Select(Text, Stops, Gen.Int).Sample((text, stops, seed) =>
        {
            var m = new StopSequenceMatcher(stops);
            string emitted = "";
            foreach (string chunk in Split(text, seed))
            {
                emitted += m.Push(chunk);
                if (m.Stopped) break;
                // Whatever was emitted plus what is held must not end in a completed stop, and emitted text never contains one.
                if (stops.Any(s => emitted.Contains(s, StringComparison.Ordinal))) return false;
            }
            return true;
        });
    }

    [Fact]
    public void Holds_a_partial_stop_across_tokens_and_releases_it_when_it_breaks()
    {
        var m = new StopSequenceMatcher(["</end>"]);
        Assert.Equal("Hello ", m.Push("Hello </"));
        Assert.Equal(2, m.HeldLength);
        Assert.Equal("</x", m.Push("x"));
        Assert.Equal(" ", m.Push(" </en"));
        Assert.Equal("", m.Push("d> tail"));
        Assert.True(m.Stopped);
        Assert.Equal("</end>", m.MatchedSequence);
        Assert.Equal("", m.Push("more"));
    }

    [Fact]
    public void Without_stop_sequences_text_passes_straight_through()
    {
        var m = new StopSequenceMatcher([]);
        Assert.Equal("abc", m.Push("abc"));
        Assert.Equal("", m.Flush());
    }

    [Fact]
    public void Empty_stop_sequence_is_a_typed_error()
    {
        Assert.Throws<SamplingException>(() => new StopSequenceMatcher(["ok", ""]));
    }
}
