using BenchmarkDotNet.Running;

// Run all benchmarks: dotnet run -c Release --project bench/Fathom.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
