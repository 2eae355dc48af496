using System.Text;
using Fathom.Gguf;

namespace Fathom.Tests;

/// <summary>Builds random GGUF content (every metadata type, nested arrays, tensors of every type) from a seed.</summary>
internal static class RandomGguf
{
    private static readonly GgmlType[] TensorTypes = Enum.GetValues<GgmlType>();

    public static GgufWriter Build(int seed)
    {
        var rng = new Random(seed);
        var w = new GgufWriter();
        if (rng.Next(4) == 0)
            w.Add(GgufKeys.General.Alignment, GgufValue.Of(1u << rng.Next(0, 8)));
        int keys = rng.Next(0, 12);
        for (int i = 0; i < keys; i++)
            w.Add($"k{i}.{RandomString(rng, 6)}", RandomValue(rng, 0));
        int tensors = rng.Next(0, 6);
        for (int i = 0; i < tensors; i++)
        {
            var type = TensorTypes[rng.Next(TensorTypes.Length)];
            int block = GgmlTypeInfo.BlockSize(type);
            int nDims = rng.Next(0, 5);
            var dims = new long[nDims];
            for (int d = 0; d < nDims; d++)
                dims[d] = d == 0 ? block * rng.Next(0, 3) : rng.Next(0, 4);
            long ne0 = nDims > 0 ? dims[0] : 1;
            if (ne0 % block != 0)
                continue; // a 0-d quantized tensor is one element, never a whole block
            long size = GgmlTypeInfo.RowSize(type, ne0) * dims.Skip(1).Aggregate(1L, (a, b) => a * b);
            var data = new byte[size];
            rng.NextBytes(data);
            string name = $"t{i}.{RandomString(rng, 4)}";
            if (rng.Next(2) == 0)
                w.AddTensor(name, type, dims, data);
            else
                w.AddTensor(name, type, dims, s => { for (int off = 0; off < data.Length; off += 7) s.Write(data, off, Math.Min(7, data.Length - off)); });
        }
        return w;
    }

    public static GgufValue RandomValue(Random rng, int depth)
    {
        var type = (GgufValueType)rng.Next(0, 13);
        if (type == GgufValueType.Array)
            return GgufValue.Of(RandomArray(rng, depth));
        return type switch
        {
            GgufValueType.UInt8 => GgufValue.Of((byte)rng.Next()),
            GgufValueType.Int8 => GgufValue.Of((sbyte)rng.Next()),
            GgufValueType.UInt16 => GgufValue.Of((ushort)rng.Next()),
            GgufValueType.Int16 => GgufValue.Of((short)rng.Next()),
            GgufValueType.UInt32 => GgufValue.Of((uint)rng.NextInt64()),
            GgufValueType.Int32 => GgufValue.Of(rng.Next(int.MinValue, int.MaxValue)),
            GgufValueType.Float32 => GgufValue.Of(BitConverter.Int32BitsToSingle(rng.Next(int.MinValue, int.MaxValue))),
            GgufValueType.Bool => GgufValue.Of(rng.Next(2) == 1),
            GgufValueType.String => GgufValue.Of(RandomString(rng, rng.Next(0, 20))),
            GgufValueType.UInt64 => GgufValue.Of((ulong)rng.NextInt64(long.MinValue, long.MaxValue)),
            GgufValueType.Int64 => GgufValue.Of(rng.NextInt64(long.MinValue, long.MaxValue)),
            _ => GgufValue.Of(BitConverter.Int64BitsToDouble(rng.NextInt64(long.MinValue, long.MaxValue))),
        };
    }

    private static GgufArray RandomArray(Random rng, int depth)
    {
        var et = (GgufValueType)rng.Next(0, 13);
        if (et == GgufValueType.Array && depth >= 3)
            et = GgufValueType.String;
        int n = rng.Next(0, 9);
        return et switch
        {
            GgufValueType.UInt8 => GgufArray.Of(Fill(n, () => (byte)rng.Next())),
            GgufValueType.Int8 => GgufArray.Of(Fill(n, () => (sbyte)rng.Next())),
            GgufValueType.UInt16 => GgufArray.Of(Fill(n, () => (ushort)rng.Next())),
            GgufValueType.Int16 => GgufArray.Of(Fill(n, () => (short)rng.Next())),
            GgufValueType.UInt32 => GgufArray.Of(Fill(n, () => (uint)rng.NextInt64())),
            GgufValueType.Int32 => GgufArray.Of(Fill(n, () => rng.Next())),
            GgufValueType.Float32 => GgufArray.Of(Fill(n, () => BitConverter.Int32BitsToSingle(rng.Next(int.MinValue, int.MaxValue)))),
            GgufValueType.Bool => GgufArray.Of(Fill(n, () => rng.Next(2) == 1)),
            GgufValueType.String => GgufArray.Of(Fill(n, () => RandomString(rng, rng.Next(0, 12)))),
            GgufValueType.UInt64 => GgufArray.Of(Fill(n, () => (ulong)rng.NextInt64(long.MinValue, long.MaxValue))),
            GgufValueType.Int64 => GgufArray.Of(Fill(n, () => rng.NextInt64(long.MinValue, long.MaxValue))),
            GgufValueType.Float64 => GgufArray.Of(Fill(n, () => BitConverter.Int64BitsToDouble(rng.NextInt64(long.MinValue, long.MaxValue)))),
            _ => GgufArray.Of(Fill(n, () => RandomArray(rng, depth + 1))),
        };
    }

    /// <summary>Random text mixing ASCII, 2-, 3- and 4-byte UTF-8 and NUL.</summary>
    public static string RandomString(Random rng, int length)
    {
        var sb = new StringBuilder(length * 2);
        for (int i = 0; i < length; i++)
        {
            switch (rng.Next(6))
            {
                case 0: sb.Append((char)rng.Next(0x20, 0x7F)); break;
                case 1: sb.Append((char)rng.Next(0x80, 0x800)); break;
                case 2: sb.Append((char)rng.Next(0x3000, 0xD000)); break;
                case 3: sb.Append(char.ConvertFromUtf32(rng.Next(0x10000, 0x10FFFF))); break;
                case 4: sb.Append('\0'); break;
                default: sb.Append((char)rng.Next('a', 'z' + 1)); break;
            }
        }
        return sb.ToString();
    }

    private static T[] Fill<T>(int n, Func<T> next)
    {
        var a = new T[n];
        for (int i = 0; i < n; i++)
            a[i] = next();
        return a;
    }
}
