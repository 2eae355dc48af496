using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using Fathom.Threading;

namespace Fathom.Benchmarks;

/// <summary>
/// The machine's streaming-read bandwidth: 2 threads summing a 512 MiB buffer with vector loads
/// (GB/s = 536.9 MB / time). The ceiling every mat-vec figure is read against.
/// </summary>
public unsafe class BandwidthBenchmarks
{
    private const long Bytes = 512L << 20;
    private byte* _buf;
    private WorkerPool _pool = null!;

    [GlobalSetup]
    public void Setup()
    {
        _buf = (byte*)NativeMemory.AlignedAlloc((nuint)Bytes, 64);
        new Span<byte>(_buf, int.MaxValue / 4).Fill(1);
        for (long o = 0; o < Bytes; o += 1 << 28)
            new Span<byte>(_buf + o, (int)Math.Min(1 << 28, Bytes - o)).Fill(1);
        _pool = new WorkerPool(2);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool.Dispose();
        NativeMemory.AlignedFree(_buf);
    }

    private struct ReadBody : IParallelBody
    {
        public byte* Buf;
        public long Chunk;
        public Vector256<long> Result;

        public void Invoke(int start, int end)
        {
            var acc0 = Vector256<long>.Zero;
            var acc1 = Vector256<long>.Zero;
            for (int c = start; c < end; c++)
            {
                byte* p = Buf + c * Chunk, e = p + Chunk;
                for (; p < e; p += 64)
                {
                    acc0 += Vector256.Load((long*)p);
                    acc1 += Vector256.Load((long*)(p + 32));
                }
            }
            Result += acc0 + acc1;
        }
    }

    [Benchmark]
    public long StreamRead2Threads()
    {
        var body = new ReadBody { Buf = _buf, Chunk = Bytes / 64 };
        _pool.For(64, ref body, 1);
        return Vector256.Sum(body.Result);
    }
}
