using BenchmarkDotNet.Running;

// Run all benchmarks: dotnet run -c Release --project bench/Fathom.Benchmarks -- --filter '*'
// Quick interleaved kernel check: dotnet run -c Release --project bench/Fathom.Benchmarks -- quick [threads]
// Grammar mask cost per token: dotnet run -c Release --project bench/Fathom.Benchmarks -- grammar [runs]
// Prefill mat-mul A/B: dotnet run -c Release --project bench/Fathom.Benchmarks -- gemm [batch]
// Decode attention alone at depth: dotnet run -c Release --project bench/Fathom.Benchmarks -- attn [threads] [depths…] [exact|tiled|quest[:page=P][:dense=D] [budget=N]] [kv1] [rounds=N]
// The page fold alone, 1 thread: dotnet run -c Release --project bench/Fathom.Benchmarks -- fold [pageSize] [kvHeads] [mem] [huge] [ahead=N] [q8_0] [read] [flush=N[,M…]] [rounds=R] [short]
// Quest's top-k page choice alone, 1 thread: dotnet run -c Release --project bench/Fathom.Benchmarks -- select [n] [k]
if (args.Length > 0 && args[0] == "quick")
{
    Fathom.Benchmarks.QuickKernelCheck.Run(args.Length > 1 ? int.Parse(args[1]) : 2);
    return;
}
if (args.Length > 0 && args[0] == "decode")
{
    Fathom.Benchmarks.DecodeKernelCheck.Run(args.Length > 1 ? int.Parse(args[1]) : 2, args.Skip(2).ToArray());
    return;
}
if (args.Length > 0 && args[0] == "sweep")
{
    Fathom.Benchmarks.ModelSweepCheck.Run(args.Length > 1 ? int.Parse(args[1]) : 2, args.Skip(2).ToArray());
    return;
}
if (args.Length > 0 && args[0] == "fold")
{
    Fathom.Benchmarks.FoldCheck.Run(args.Skip(1).ToArray());
    return;
}
if (args.Length > 0 && args[0] == "select")
{
    Fathom.Benchmarks.QuestSelectCheck.Run(args.Skip(1).ToArray());
    return;
}
if (args.Length > 0 && args[0] == "attn")
{
    Fathom.Benchmarks.AttentionDepthCheck.Run(args.Length > 1 ? int.Parse(args[1]) : 2, args.Skip(2).ToArray());
    return;
}
if (args.Length > 0 && args[0] == "grammar")
{
    Fathom.Benchmarks.QuickGrammarCheck.Run(args.Length > 1 ? int.Parse(args[1]) : 5);
    return;
}
if (args.Length > 0 && args[0] == "gemm")
{
    Fathom.Benchmarks.QuickGemmCheck.Run(args.Length > 1 ? int.Parse(args[1]) : 512);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
