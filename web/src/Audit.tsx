// Audit log: every change, filtered by actor, type, registry and time, with the state of the
// hash chain that makes it tamper-evident.
import { useQuery } from "@apollo/client/react";
import { useSearchParams } from "react-router-dom";
import { AUDIT, AUDIT_CHECK } from "./queries";
import { useNames } from "./names";
import { appendPage, change, when } from "./shape";
import { Empty, Failure, Frame, Loading, RegistryLogLinks, useViewer } from "./ui";

interface AuditData {
  auditLog: {
    nodes: { id: string; seq: number; type: string; actor: string; time: string; registry: string | null; before: unknown; after: unknown; withheld: boolean }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
}

export function Audit() {
  const [params, setParams] = useSearchParams();
  const actor = params.get("actor") ?? "";
  const type = params.get("type") ?? "";
  const registry = params.get("registry") ?? "";
  const since = params.get("since") ?? "";
  // Only an org admin reads the whole log and checks its chain; a member reads the log of a
  // registry of theirs, and is offered those when none is chosen.
  const { viewer, error: viewerError } = useViewer();
  const orgAdmin = viewer?.user.orgAdmin;
  const mine = [...new Set(viewer?.registries.map((r) => r.registry) ?? [])].sort();
  const choose = orgAdmin === false && !registry;
  const checked = useQuery<{
    verifyAuditLog: { intact: boolean; checked: number; reason: string | null; firstBreak: { seq: number } | null };
  }>(AUDIT_CHECK, { skip: !orgAdmin });
  const { data, error, loading, fetchMore } = useQuery<AuditData>(AUDIT, {
    skip: orgAdmin === undefined || choose,
    variables: {
      actor: actor || null,
      registry: registry || null,
      types: type ? [type] : null,
      since: since ? new Date(since).toISOString() : null,
    },
  });
  function set(name: string, value: string) {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: true });
  }
  const check = checked.data?.verifyAuditLog;
  const names = useNames(data?.auditLog.nodes);
  return (
    <Frame title="Audit log">
      {check && (
        <p className={check.intact ? "ok" : "error"} role="status">
          {check.intact
            ? `Hash chain intact: ${check.checked} events checked.`
            : `Hash chain broken at event ${check.firstBreak?.seq ?? "?"}: ${check.reason ?? ""}`}
        </p>
      )}
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <input aria-label="Actor" placeholder="Actor" value={actor} onChange={(e) => set("actor", e.target.value)} />
        <input aria-label="Event type" placeholder="Type (alias.set)" value={type} onChange={(e) => set("type", e.target.value)} />
        <input aria-label="Registry" placeholder="Registry" value={registry} onChange={(e) => set("registry", e.target.value)} />
        <input aria-label="Since" type="datetime-local" value={since} onChange={(e) => set("since", e.target.value)} />
      </form>
      {choose && (
        <Empty>
          Only an org admin reads the whole log. Yours:{" "}
          {mine.length ? <RegistryLogLinks registries={mine} /> : "you hold a role in no registry"}
          .
        </Empty>
      )}
      {(error ?? viewerError ?? checked.error) != null && <Failure error={error ?? viewerError ?? checked.error} />}
      {loading && !data && <Loading what="the audit log" />}
      {data && !data.auditLog.nodes.length && <Empty>No event matches.</Empty>}
      <ol className="history">
        {data?.auditLog.nodes.map((e) => (
          <li key={e.id}>
            <span className="muted">#{e.seq}</span> <time dateTime={e.time}>{when(e.time)}</time> <strong>{e.type}</strong> by{" "}
            {e.actor}
            {e.registry && <span className="muted"> in {e.registry}</span>}
            <span className="muted"> {change(e, names)}</span>
          </li>
        ))}
      </ol>
      {data?.auditLog.pageInfo.hasNextPage && (
        <button
          type="button"
          onClick={() =>
            fetchMore({
              variables: { after: data.auditLog.pageInfo.endCursor },
              updateQuery: appendPage("auditLog"),
            })
          }
        >
          Older events
        </button>
      )}
    </Frame>
  );
}
