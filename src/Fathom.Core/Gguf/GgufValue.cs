using System.Globalization;

namespace Fathom.Gguf;

/// <summary>
/// One metadata value. Scalars are boxed once at load; arrays are stored as typed CLR arrays
/// (<c>float[]</c>, <c>string[]</c>, ...) or, for nested arrays, as <c>GgufArray[]</c>.
/// </summary>
public sealed class GgufValue
{
    internal GgufValue(GgufValueType type, object value)
    {
        Type = type;
        Value = value;
    }

    public GgufValueType Type { get; }

    /// <summary>The raw value: a CLR scalar, a string, or a <see cref="GgufArray"/>.</summary>
    public object Value { get; }

    public GgufArray? AsArray => Value as GgufArray;

    public static GgufValue Of(byte v) => new(GgufValueType.UInt8, v);
    public static GgufValue Of(sbyte v) => new(GgufValueType.Int8, v);
    public static GgufValue Of(ushort v) => new(GgufValueType.UInt16, v);
    public static GgufValue Of(short v) => new(GgufValueType.Int16, v);
    public static GgufValue Of(uint v) => new(GgufValueType.UInt32, v);
    public static GgufValue Of(int v) => new(GgufValueType.Int32, v);
    public static GgufValue Of(float v) => new(GgufValueType.Float32, v);
    public static GgufValue Of(bool v) => new(GgufValueType.Bool, v);
    public static GgufValue Of(string v) => new(GgufValueType.String, v ?? throw new ArgumentNullException(nameof(v)));
    public static GgufValue Of(ulong v) => new(GgufValueType.UInt64, v);
    public static GgufValue Of(long v) => new(GgufValueType.Int64, v);
    public static GgufValue Of(double v) => new(GgufValueType.Float64, v);
    public static GgufValue Of(GgufArray v) => new(GgufValueType.Array, v ?? throw new ArgumentNullException(nameof(v)));

    /// <summary>A short human rendering: scalars in full, arrays as <c>[type × n]</c>.</summary>
    public override string ToString() => Value switch
    {
        GgufArray a => $"[{GgufArray.TypeName(a.ElementType)} x {a.Count}]",
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => Value.ToString() ?? "",
    };

    internal bool ContentEquals(GgufValue other) => Type == other.Type &&
        (Value is GgufArray a ? other.Value is GgufArray b && a.ContentEquals(b) : Value.Equals(other.Value));
}

/// <summary>A metadata array: an element type and a typed CLR array holding the items.</summary>
public sealed class GgufArray
{
    internal GgufArray(GgufValueType elementType, Array items)
    {
        ElementType = elementType;
        Items = items;
    }

    public GgufValueType ElementType { get; }

    /// <summary>The items: <c>byte[]</c>, <c>sbyte[]</c>, ..., <c>string[]</c>, or <c>GgufArray[]</c> for nested arrays.</summary>
    public Array Items { get; }

    public int Count => Items.Length;

    public static GgufArray Of(byte[] v) => new(GgufValueType.UInt8, v);
    public static GgufArray Of(sbyte[] v) => new(GgufValueType.Int8, v);
    public static GgufArray Of(ushort[] v) => new(GgufValueType.UInt16, v);
    public static GgufArray Of(short[] v) => new(GgufValueType.Int16, v);
    public static GgufArray Of(uint[] v) => new(GgufValueType.UInt32, v);
    public static GgufArray Of(int[] v) => new(GgufValueType.Int32, v);
    public static GgufArray Of(float[] v) => new(GgufValueType.Float32, v);
    public static GgufArray Of(bool[] v) => new(GgufValueType.Bool, v);
    public static GgufArray Of(string[] v) => new(GgufValueType.String, v);
    public static GgufArray Of(ulong[] v) => new(GgufValueType.UInt64, v);
    public static GgufArray Of(long[] v) => new(GgufValueType.Int64, v);
    public static GgufArray Of(double[] v) => new(GgufValueType.Float64, v);
    public static GgufArray Of(GgufArray[] v) => new(GgufValueType.Array, v);

    internal static Type ClrType(GgufValueType t) => t switch
    {
        GgufValueType.UInt8 => typeof(byte),
        GgufValueType.Int8 => typeof(sbyte),
        GgufValueType.UInt16 => typeof(ushort),
        GgufValueType.Int16 => typeof(short),
        GgufValueType.UInt32 => typeof(uint),
        GgufValueType.Int32 => typeof(int),
        GgufValueType.Float32 => typeof(float),
        GgufValueType.Bool => typeof(bool),
        GgufValueType.String => typeof(string),
        GgufValueType.UInt64 => typeof(ulong),
        GgufValueType.Int64 => typeof(long),
        GgufValueType.Float64 => typeof(double),
        GgufValueType.Array => typeof(GgufArray),
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    internal static string TypeName(GgufValueType t) => t switch
    {
        GgufValueType.UInt8 => "u8",
        GgufValueType.Int8 => "i8",
        GgufValueType.UInt16 => "u16",
        GgufValueType.Int16 => "i16",
        GgufValueType.UInt32 => "u32",
        GgufValueType.Int32 => "i32",
        GgufValueType.Float32 => "f32",
        GgufValueType.Bool => "bool",
        GgufValueType.String => "string",
        GgufValueType.UInt64 => "u64",
        GgufValueType.Int64 => "i64",
        GgufValueType.Float64 => "f64",
        GgufValueType.Array => "array",
        _ => $"type {(uint)t}",
    };

    internal bool ContentEquals(GgufArray other)
    {
        if (ElementType != other.ElementType || Count != other.Count)
            return false;
        for (int i = 0; i < Count; i++)
        {
            object? x = Items.GetValue(i), y = other.Items.GetValue(i);
            bool same = x is GgufArray xa ? y is GgufArray ya && xa.ContentEquals(ya) : Equals(x, y);
            if (!same)
                return false;
        }
        return true;
    }
}
