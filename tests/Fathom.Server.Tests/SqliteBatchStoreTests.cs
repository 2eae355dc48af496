using Fathom.Server.Batches;

namespace Fathom.Server.Tests;

/// <summary>The batch store: pagination, final results exactly once, and crash safety at every step.</summary>
public sealed class SqliteBatchStoreTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Directory.CreateTempSubdirectory("fathom-batch-").FullName;

    private string DbPath => Path.Combine(_dir, "batches.db");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static List<BatchRequestInput> Requests(int n) =>
        [.. Enumerable.Range(0, n).Select(i => new BatchRequestInput($"r{i}", $$"""{"i":{{i}}}"""))];

    private static BatchRecord Create(SqliteBatchStore store, string id, int n = 3, string? tenant = null) =>
        store.Create(id, tenant, "2023-06-01", T0, T0.AddHours(24), Requests(n));

    [Fact]
    public void Create_stores_every_request_pending_and_list_pages_newest_first()
    {
        using var store = new SqliteBatchStore(DbPath);
        for (int i = 0; i < 5; i++)
            Create(store, $"b{i}");
        Create(store, "other", tenant: "t2");
        var b0 = store.Get("b0")!;
        Assert.Equal(new BatchCounts(3, 0, 0, 0, 0), b0.Counts);
        Assert.Null(b0.EndedAt);

        var page1 = store.List(null, 2, null, null, out bool more1);
        Assert.Equal(["b4", "b3"], page1.Select(b => b.Id));
        Assert.True(more1);
        var page2 = store.List(null, 2, page1[^1].Id, null, out bool more2);
        Assert.Equal(["b2", "b1"], page2.Select(b => b.Id));
        Assert.True(more2);
        var page3 = store.List(null, 2, page2[^1].Id, null, out bool more3);
        Assert.Equal(["b0"], page3.Select(b => b.Id));
        Assert.False(more3);
        var back = store.List(null, 2, null, "b1", out bool moreBack);
        Assert.Equal(["b3", "b2"], back.Select(b => b.Id));
        Assert.True(moreBack);
        Assert.Equal(["other"], store.List("t2", 20, null, null, out _).Select(b => b.Id));
    }

    [Fact]
    public void Complete_records_a_result_once_and_ends_the_batch_with_the_last_one()
    {
        using var store = new SqliteBatchStore(DbPath);
        Create(store, "b", n: 2);
        var first = store.NextPending(new HashSet<(string, string)>())!;
        Assert.Equal(("b", "r0"), (first.BatchId, first.CustomId));
        var second = store.NextPending(new HashSet<(string, string)> { ("b", "r0") })!;
        Assert.Equal("r1", second.CustomId);
        Assert.True(store.Complete("b", "r1", BatchRequestState.Succeeded, """{"type":"succeeded"}""", T0));
        Assert.False(store.Complete("b", "r1", BatchRequestState.Errored, """{"type":"errored"}""", T0));
        Assert.Null(store.Get("b")!.EndedAt);
        Assert.True(store.Complete("b", "r0", BatchRequestState.Errored, """{"type":"errored"}""", T0.AddMinutes(1)));
        var ended = store.Get("b")!;
        Assert.Equal(T0.AddMinutes(1), ended.EndedAt);
        Assert.Equal(new BatchCounts(0, 1, 1, 0, 0), ended.Counts);
        Assert.Equal([("r0", """{"type":"errored"}"""), ("r1", """{"type":"succeeded"}""")], store.Results("b").ToList());
        Assert.Null(store.NextPending(new HashSet<(string, string)>()));
    }

    [Theory]
    [InlineData("create:batch")]
    [InlineData("create:requests")]
    [InlineData("create:commit")]
    public void A_crash_during_create_leaves_no_trace_of_the_batch(string point)
    {
        using (var store = new SqliteBatchStore(DbPath))
        {
            store.Fault = p => _ = p == point ? throw new IOException("simulated crash at " + p) : 0;
            Assert.Throws<IOException>(() => Create(store, "b", n: 10));
        }
        using var reopened = new SqliteBatchStore(DbPath);
        Assert.Null(reopened.Get("b"));
        Assert.Null(reopened.NextPending(new HashSet<(string, string)>()));
        Create(reopened, "b", n: 10);
        Assert.Equal(10, reopened.Get("b")!.Counts.Processing);
    }

    [Theory]
    [InlineData("complete:result")]
    [InlineData("complete:commit")]
    public void A_crash_while_recording_a_result_leaves_the_request_pending_and_it_completes_once_after_restart(string point)
    {
        using (var store = new SqliteBatchStore(DbPath))
        {
            Create(store, "b", n: 1);
            store.Fault = p => _ = p == point ? throw new IOException("simulated crash at " + p) : 0;
            Assert.Throws<IOException>(() => store.Complete("b", "r0", BatchRequestState.Succeeded, """{"type":"succeeded"}""", T0));
        }
        using var reopened = new SqliteBatchStore(DbPath);
        var pending = reopened.NextPending(new HashSet<(string, string)>());
        Assert.Equal("r0", pending?.CustomId);
        Assert.Equal("""{"i":0}""", pending!.ParamsJson);
        Assert.Null(reopened.Get("b")!.EndedAt);
        Assert.True(reopened.Complete("b", "r0", BatchRequestState.Succeeded, """{"type":"succeeded"}""", T0));
        Assert.False(reopened.Complete("b", "r0", BatchRequestState.Succeeded, """{"type":"succeeded"}""", T0));
        Assert.Single(reopened.Results("b"));
        Assert.NotNull(reopened.Get("b")!.EndedAt);
    }

    [Fact]
    public void A_crash_during_cancel_keeps_the_batch_running_and_a_retried_cancel_ends_it()
    {
        using (var store = new SqliteBatchStore(DbPath))
        {
            Create(store, "b", n: 3);
            store.Fault = p => _ = p == "cancel:requests" ? throw new IOException("simulated crash") : 0;
            Assert.Throws<IOException>(() => store.Cancel("b", T0));
        }
        using var reopened = new SqliteBatchStore(DbPath);
        Assert.Equal(3, reopened.Get("b")!.Counts.Processing);
        Assert.True(reopened.Complete("b", "r0", BatchRequestState.Succeeded, """{"type":"succeeded"}""", T0));
        var canceled = reopened.Cancel("b", T0.AddMinutes(1))!;
        Assert.Equal(new BatchCounts(0, 1, 0, 2, 0), canceled.Counts);
        Assert.Equal(T0.AddMinutes(1), canceled.CancelInitiatedAt);
        Assert.NotNull(canceled.EndedAt);
        Assert.False(reopened.Complete("b", "r1", BatchRequestState.Succeeded, "{}", T0), "a canceled request takes no later result");
        Assert.Equal(canceled, reopened.Cancel("b", T0.AddMinutes(5)));
    }

    [Fact]
    public void Sweep_expires_overdue_requests_and_archives_results_after_retention()
    {
        using var store = new SqliteBatchStore(null);
        Create(store, "b", n: 2);
        Assert.True(store.Complete("b", "r0", BatchRequestState.Succeeded, """{"type":"succeeded"}""", T0));
        store.Sweep(T0.AddHours(23), TimeSpan.FromDays(29));
        Assert.Null(store.Get("b")!.EndedAt);
        store.Sweep(T0.AddHours(24), TimeSpan.FromDays(29));
        var expired = store.Get("b")!;
        Assert.Equal(new BatchCounts(0, 1, 0, 0, 1), expired.Counts);
        Assert.Equal(T0.AddHours(24), expired.EndedAt);
        Assert.Contains(("r1", """{"type":"expired"}"""), store.Results("b"));
        Assert.Null(expired.ArchivedAt);
        store.Sweep(T0.AddDays(29), TimeSpan.FromDays(29));
        Assert.Equal(T0.AddDays(29), store.Get("b")!.ArchivedAt);
        Assert.Empty(store.Results("b"));
        Assert.True(store.Delete("b"));
        Assert.Null(store.Get("b"));
        Assert.False(store.Delete("b"));
    }
}
