import type { Knex } from 'knex';

export interface AuditEntry {
  api?: string | null;
  action: string;
  actorUserId?: string | null;
  targetUserId?: string | null;
  ip?: string | null;
  detail?: Record<string, unknown> | null;
}

export interface AuditRecord extends AuditEntry {
  id: string;
  at: Date;
}

function row(e: AuditEntry) {
  return {
    api: e.api ?? null,
    action: e.action,
    actor_user_id: e.actorUserId ?? null,
    target_user_id: e.targetUserId ?? null,
    ip: e.ip ?? null,
    detail: e.detail ? JSON.stringify(e.detail) : null,
  };
}

export function auditRepo(db: Knex) {
  return {
    async write(e: AuditEntry): Promise<void> {
      await db('audit_log').insert(row(e));
    },
    /** Several entries in one statement, in order. */
    async writeAll(entries: AuditEntry[]): Promise<void> {
      if (entries.length > 0) await db('audit_log').insert(entries.map(row));
    },
    async recent(opts: { limit?: number; action?: string; userId?: string } = {}): Promise<AuditRecord[]> {
      const q = db('audit_log').orderBy('id', 'desc').limit(opts.limit ?? 50);
      if (opts.action) q.where({ action: opts.action });
      if (opts.userId) q.where((w) => w.where({ target_user_id: opts.userId }).orWhere({ actor_user_id: opts.userId }));
      const rows = await q;
      return rows.map((r: Record<string, unknown>) => ({
        id: String(r.id),
        at: r.at as Date,
        api: (r.api as string | null) ?? null,
        action: r.action as string,
        actorUserId: r.actor_user_id == null ? null : String(r.actor_user_id),
        targetUserId: r.target_user_id == null ? null : String(r.target_user_id),
        ip: (r.ip as string | null) ?? null,
        detail: (typeof r.detail === 'string' ? JSON.parse(r.detail) : r.detail) as Record<string, unknown> | null,
      }));
    },
  };
}

export type AuditRepo = ReturnType<typeof auditRepo>;
