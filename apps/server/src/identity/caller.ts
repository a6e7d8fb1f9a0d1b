/**
 * Who asks a use-case for a change, as the audit log records it: the API
 * (or `admin-cli`), the client address, and the signed-in user acting, if
 * it is not the user the change is about.
 */
export interface Caller {
  api: string;
  ip?: string | null;
  /** The signed-in user making the change, when not the target themself. */
  actorUserId?: string | null;
  /**
   * An administrator outside every API (the admin CLI): recorded with no
   * actor user, and `detail` says who ran it.
   */
  admin?: boolean;
  /** Carried into every audit entry this caller causes. */
  detail?: Record<string, unknown>;
}

/** The audit entry fields a caller contributes. */
export function audited(caller: Caller, targetUserId: string | null, detail?: Record<string, unknown> | null) {
  const merged = caller.detail || detail ? { ...caller.detail, ...detail } : null;
  return {
    api: caller.api,
    ip: caller.ip ?? null,
    actorUserId: caller.admin ? null : (caller.actorUserId ?? targetUserId),
    targetUserId,
    detail: merged,
  };
}
