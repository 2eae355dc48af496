using Microsoft.Data.Sqlite;

namespace Fathom.Server.Batches;

/// <summary>
/// <see cref="IBatchStore"/> in one SQLite file (WAL, full sync), or in memory when no path is given.
/// One connection serialised by a lock: batch traffic is light next to generation.
/// </summary>
internal sealed class SqliteBatchStore : IBatchStore
{
    private readonly SqliteConnection _db;
    private readonly Lock _lock = new();

    /// <summary>Opens (creating if needed) the store at <paramref name="path"/>; null keeps it in memory.</summary>
    public SqliteBatchStore(string? path)
    {
        string source = path is null ? $"file:fathom-batches-{Guid.NewGuid():N}?mode=memory&cache=shared" : path;
        if (path is not null && Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir)
            Directory.CreateDirectory(dir);
        _db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = source, Pooling = false }.ToString());
        _db.Open();
        Exec(path is null ? "PRAGMA foreign_keys=ON;" : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
        Exec("""
            CREATE TABLE IF NOT EXISTS batches (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                tenant TEXT,
                version TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                ended_at INTEGER,
                cancel_initiated_at INTEGER,
                archived_at INTEGER);
            CREATE TABLE IF NOT EXISTS requests (
                batch_seq INTEGER NOT NULL REFERENCES batches(seq) ON DELETE CASCADE,
                idx INTEGER NOT NULL,
                custom_id TEXT NOT NULL,
                params TEXT,
                state INTEGER NOT NULL,
                result TEXT,
                PRIMARY KEY (batch_seq, idx),
                UNIQUE (batch_seq, custom_id));
            CREATE INDEX IF NOT EXISTS requests_pending ON requests(state, batch_seq, idx);
            """);
    }

    /// <summary>Test hook: called at named points inside transactions; throwing there simulates a crash before commit.</summary>
    internal Action<string>? Fault { get; set; }

    public BatchRecord Create(string id, string? tenant, string version, DateTimeOffset createdAt, DateTimeOffset expiresAt, IReadOnlyList<BatchRequestInput> requests)
    {
        lock (_lock)
        {
            using var tx = _db.BeginTransaction();
            long seq;
            using (var cmd = Command("INSERT INTO batches (id, tenant, version, created_at, expires_at) VALUES ($id, $tenant, $version, $created, $expires) RETURNING seq", tx))
            {
                cmd.Parameters.AddWithValue("$id", id);
                cmd.Parameters.AddWithValue("$tenant", (object?)tenant ?? DBNull.Value);
                cmd.Parameters.AddWithValue("$version", version);
                cmd.Parameters.AddWithValue("$created", createdAt.ToUnixTimeMilliseconds());
                cmd.Parameters.AddWithValue("$expires", expiresAt.ToUnixTimeMilliseconds());
                seq = (long)cmd.ExecuteScalar()!;
            }
            Fault?.Invoke("create:batch");
            using (var cmd = Command("INSERT INTO requests (batch_seq, idx, custom_id, params, state) VALUES ($seq, $idx, $cid, $params, 0)", tx))
            {
                var pSeq = cmd.Parameters.Add("$seq", SqliteType.Integer);
                var pIdx = cmd.Parameters.Add("$idx", SqliteType.Integer);
                var pCid = cmd.Parameters.Add("$cid", SqliteType.Text);
                var pParams = cmd.Parameters.Add("$params", SqliteType.Text);
                cmd.Prepare();
                for (int i = 0; i < requests.Count; i++)
                {
                    pSeq.Value = seq;
                    pIdx.Value = i;
                    pCid.Value = requests[i].CustomId;
                    pParams.Value = requests[i].ParamsJson;
                    cmd.ExecuteNonQuery();
                    if (i == requests.Count / 2)
                        Fault?.Invoke("create:requests");
                }
            }
            Fault?.Invoke("create:commit");
            tx.Commit();
            return Read(seq)!;
        }
    }

    public BatchRecord? Get(string id)
    {
        lock (_lock)
            return SeqOf(id) is { } seq ? Read(seq) : null;
    }

    public IReadOnlyList<BatchRecord> List(string? tenant, int limit, string? afterId, string? beforeId, out bool hasMore)
    {
        lock (_lock)
        {
            // Newest first; a cursor that does not exist (or belongs to another tenant) starts from the edge.
            long? after = afterId is null ? null : SeqOf(afterId);
            long? before = beforeId is null ? null : SeqOf(beforeId);
            bool backwards = before is not null && after is null;
            string where = "(tenant IS $tenant OR (tenant IS NULL AND $tenant IS NULL))";
            if (after is not null)
                where += " AND seq < $after";
            if (before is not null)
                where += " AND seq > $before";
            using var cmd = Command($"SELECT seq FROM batches WHERE {where} ORDER BY seq {(backwards ? "ASC" : "DESC")} LIMIT $limit", null);
            cmd.Parameters.AddWithValue("$tenant", (object?)tenant ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$after", (object?)after ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$before", (object?)before ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$limit", limit + 1);
            var seqs = new List<long>();
            using (var r = cmd.ExecuteReader())
            {
                while (r.Read())
                    seqs.Add(r.GetInt64(0));
            }
            hasMore = seqs.Count > limit;
            if (hasMore)
                seqs.RemoveAt(seqs.Count - 1);
            if (backwards)
                seqs.Reverse();
            return [.. seqs.Select(s => Read(s)!)];
        }
    }

    public BatchRecord? Cancel(string id, DateTimeOffset now)
    {
        lock (_lock)
        {
            if (SeqOf(id) is not { } seq)
                return null;
            var batch = Read(seq)!;
            if (batch.EndedAt is not null)
                return batch;
            using var tx = _db.BeginTransaction();
            long ms = now.ToUnixTimeMilliseconds();
            Exec(tx, "UPDATE requests SET state = $state, result = '{\"type\":\"canceled\"}', params = NULL WHERE batch_seq = $seq AND state = 0",
                ("$state", (int)BatchRequestState.Canceled), ("$seq", seq));
            Fault?.Invoke("cancel:requests");
            Exec(tx, "UPDATE batches SET cancel_initiated_at = $now, ended_at = $now WHERE seq = $seq", ("$now", ms), ("$seq", seq));
            tx.Commit();
            return Read(seq);
        }
    }

    public bool Delete(string id)
    {
        lock (_lock)
        {
            using var cmd = Command("DELETE FROM batches WHERE id = $id", null);
            cmd.Parameters.AddWithValue("$id", id);
            return cmd.ExecuteNonQuery() > 0;
        }
    }

    public PendingBatchRequest? NextPending(IReadOnlySet<(string BatchId, string CustomId)> running)
    {
        lock (_lock)
        {
            using var cmd = Command("""
                SELECT b.id, r.custom_id, b.tenant, b.version, r.params FROM requests r JOIN batches b ON b.seq = r.batch_seq
                WHERE r.state = 0 AND b.ended_at IS NULL ORDER BY r.batch_seq, r.idx LIMIT $limit
                """, null);
            cmd.Parameters.AddWithValue("$limit", running.Count + 1);
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                var candidate = new PendingBatchRequest(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetString(3), r.GetString(4));
                if (!running.Contains((candidate.BatchId, candidate.CustomId)))
                    return candidate;
            }
            return null;
        }
    }

    public bool Complete(string batchId, string customId, BatchRequestState state, string resultJson, DateTimeOffset now)
    {
        if (state == BatchRequestState.Pending)
            throw new ArgumentOutOfRangeException(nameof(state), "a result must be final");
        lock (_lock)
        {
            if (SeqOf(batchId) is not { } seq)
                return false;
            using var tx = _db.BeginTransaction();
            int changed = Exec(tx, "UPDATE requests SET state = $state, result = $result, params = NULL WHERE batch_seq = $seq AND custom_id = $cid AND state = 0",
                ("$state", (int)state), ("$result", resultJson), ("$seq", seq), ("$cid", customId));
            if (changed == 0)
                return false;
            Fault?.Invoke("complete:result");
            Exec(tx, "UPDATE batches SET ended_at = $now WHERE seq = $seq AND ended_at IS NULL AND NOT EXISTS (SELECT 1 FROM requests WHERE batch_seq = $seq AND state = 0)",
                ("$now", now.ToUnixTimeMilliseconds()), ("$seq", seq));
            Fault?.Invoke("complete:commit");
            tx.Commit();
            return true;
        }
    }

    public int Sweep(DateTimeOffset now, TimeSpan retention)
    {
        lock (_lock)
        {
            long ms = now.ToUnixTimeMilliseconds();
            using var tx = _db.BeginTransaction();
            Exec(tx, "UPDATE requests SET state = $state, result = '{\"type\":\"expired\"}', params = NULL WHERE state = 0 AND batch_seq IN (SELECT seq FROM batches WHERE ended_at IS NULL AND expires_at <= $now)",
                ("$state", (int)BatchRequestState.Expired), ("$now", ms));
            int ended = Exec(tx, "UPDATE batches SET ended_at = $now WHERE ended_at IS NULL AND expires_at <= $now", ("$now", ms));
            long cutoff = ms - (long)retention.TotalMilliseconds;
            Exec(tx, "UPDATE requests SET result = NULL, params = NULL WHERE batch_seq IN (SELECT seq FROM batches WHERE archived_at IS NULL AND ended_at IS NOT NULL AND created_at <= $cutoff)", ("$cutoff", cutoff));
            int archived = Exec(tx, "UPDATE batches SET archived_at = $now WHERE archived_at IS NULL AND ended_at IS NOT NULL AND created_at <= $cutoff", ("$now", ms), ("$cutoff", cutoff));
            tx.Commit();
            return ended + archived;
        }
    }

    public IEnumerable<(string CustomId, string ResultJson)> Results(string id)
    {
        long? seq;
        lock (_lock)
            seq = SeqOf(id);
        if (seq is null)
            yield break;
        long idx = -1;
        while (true)
        {
            var page = new List<(long Idx, string CustomId, string Result)>();
            lock (_lock)
            {
                using var cmd = Command("SELECT idx, custom_id, result FROM requests WHERE batch_seq = $seq AND idx > $idx AND state <> 0 AND result IS NOT NULL ORDER BY idx LIMIT 512", null);
                cmd.Parameters.AddWithValue("$seq", seq);
                cmd.Parameters.AddWithValue("$idx", idx);
                using var r = cmd.ExecuteReader();
                while (r.Read())
                    page.Add((r.GetInt64(0), r.GetString(1), r.GetString(2)));
            }
            foreach (var row in page)
                yield return (row.CustomId, row.Result);
            if (page.Count < 512)
                yield break;
            idx = page[^1].Idx;
        }
    }

    public void Dispose()
    {
        lock (_lock)
            _db.Dispose();
    }

    private long? SeqOf(string id)
    {
        using var cmd = Command("SELECT seq FROM batches WHERE id = $id", null);
        cmd.Parameters.AddWithValue("$id", id);
        return cmd.ExecuteScalar() is long seq ? seq : null;
    }

    private BatchRecord? Read(long seq)
    {
        using var cmd = Command("SELECT id, tenant, version, created_at, expires_at, ended_at, cancel_initiated_at, archived_at FROM batches WHERE seq = $seq", null);
        cmd.Parameters.AddWithValue("$seq", seq);
        using var r = cmd.ExecuteReader();
        if (!r.Read())
            return null;
        static DateTimeOffset Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
        DateTimeOffset? Maybe(int i) => r.IsDBNull(i) ? null : Time(r.GetInt64(i));
        var counts = new int[5];
        using (var c = Command("SELECT state, COUNT(*) FROM requests WHERE batch_seq = $seq GROUP BY state", null))
        {
            c.Parameters.AddWithValue("$seq", seq);
            using var cr = c.ExecuteReader();
            while (cr.Read())
                counts[cr.GetInt32(0)] = cr.GetInt32(1);
        }
        return new BatchRecord(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.GetString(2), Time(r.GetInt64(3)), Time(r.GetInt64(4)),
            Maybe(5), Maybe(6), Maybe(7), new BatchCounts(counts[0], counts[1], counts[2], counts[3], counts[4]));
    }

    private SqliteCommand Command(string sql, SqliteTransaction? tx)
    {
        var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        return cmd;
    }

    private void Exec(string sql)
    {
        using var cmd = Command(sql, null);
        cmd.ExecuteNonQuery();
    }

    private int Exec(SqliteTransaction tx, string sql, params (string Name, object Value)[] args)
    {
        using var cmd = Command(sql, tx);
        foreach (var (name, value) in args)
            cmd.Parameters.AddWithValue(name, value);
        return cmd.ExecuteNonQuery();
    }
}
