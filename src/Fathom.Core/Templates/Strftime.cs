using System.Globalization;
using System.Text;

namespace Fathom.Templates;

/// <summary>C-locale strftime as glibc formats a naive datetime (what Python's datetime.strftime calls on Linux).</summary>
internal static class Strftime
{
    private static readonly string[] Days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
    private static readonly string[] Months =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

    public static string Format(DateTime t, string fmt)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < fmt.Length; i++)
        {
            char c = fmt[i];
            if (c != '%' || i + 1 >= fmt.Length)
            {
                sb.Append(c);
                continue;
            }
            char pad = '\0';
            char d = fmt[++i];
            if (d is '-' or '_' or '0' && i + 1 < fmt.Length)
            {
                pad = d;
                d = fmt[++i];
            }
            sb.Append(d switch
            {
                'a' => Days[(int)t.DayOfWeek][..3],
                'A' => Days[(int)t.DayOfWeek],
                'b' or 'h' => Months[t.Month - 1][..3],
                'B' => Months[t.Month - 1],
                'c' => Format(t, "%a %b %e %H:%M:%S %Y"),
                'C' => Num(t.Year / 100, 2, pad),
                'd' => Num(t.Day, 2, pad),
                'D' => Format(t, "%m/%d/%y"),
                'e' => Num(t.Day, 2, pad == '\0' ? '_' : pad),
                'f' => Num((int)(t.Ticks % TimeSpan.TicksPerSecond / 10), 6, pad),
                'F' => Format(t, "%Y-%m-%d"),
                'G' => Num(ISOWeek.GetYear(t), 4, pad),
                'g' => Num(ISOWeek.GetYear(t) % 100, 2, pad),
                'H' => Num(t.Hour, 2, pad),
                'I' => Num(t.Hour % 12 == 0 ? 12 : t.Hour % 12, 2, pad),
                'j' => Num(t.DayOfYear, 3, pad),
                'k' => Num(t.Hour, 2, pad == '\0' ? '_' : pad),
                'l' => Num(t.Hour % 12 == 0 ? 12 : t.Hour % 12, 2, pad == '\0' ? '_' : pad),
                'm' => Num(t.Month, 2, pad),
                'M' => Num(t.Minute, 2, pad),
                'n' => "\n",
                'p' => t.Hour < 12 ? "AM" : "PM",
                'P' => t.Hour < 12 ? "am" : "pm",
                'r' => Format(t, "%I:%M:%S %p"),
                'R' => Format(t, "%H:%M"),
                's' => ((long)(t - DateTime.UnixEpoch).TotalSeconds).ToString(CultureInfo.InvariantCulture),
                'S' => Num(t.Second, 2, pad),
                't' => "\t",
                'T' => Format(t, "%H:%M:%S"),
                'u' => ((int)t.DayOfWeek == 0 ? 7 : (int)t.DayOfWeek).ToString(CultureInfo.InvariantCulture),
                'U' => Num((t.DayOfYear + 6 - (int)t.DayOfWeek) / 7, 2, pad),
                'V' => Num(ISOWeek.GetWeekOfYear(t), 2, pad),
                'w' => ((int)t.DayOfWeek).ToString(CultureInfo.InvariantCulture),
                'W' => Num((t.DayOfYear + 6 - ((int)t.DayOfWeek + 6) % 7) / 7, 2, pad),
                'x' => Format(t, "%m/%d/%y"),
                'X' => Format(t, "%H:%M:%S"),
                'y' => Num(t.Year % 100, 2, pad),
                'Y' => t.Year.ToString(CultureInfo.InvariantCulture),
                'z' or 'Z' => "",
                '%' => "%",
                _ => "%" + (pad == '\0' ? "" : pad.ToString()) + d,
            });
        }
        return sb.ToString();
    }

    private static string Num(int v, int width, char pad)
    {
        string s = v.ToString(CultureInfo.InvariantCulture);
        return pad switch
        {
            '-' => s,
            '_' => s.PadLeft(width, ' '),
            _ => s.PadLeft(width, '0'),
        };
    }
}
