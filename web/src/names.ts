// What the objects an audit event names by id are called, asked of the server for the page
// that shows the events: a version's project/name:vN, a linked version's
// registry/collection:vN, a collection's registry/collection, a run's, registry's or project's
// name. An object the reader may not read stays an id (the server answers null for it).
import { gql } from "@apollo/client";
import { useApolloClient } from "@apollo/client/react";
import { useEffect, useState } from "react";
import { namedIds, type EventRow } from "./shape";

const PER_QUERY = 25; // the server allows 30 aliases an operation

const NAMED = `fragment named on Node { id ... on ArtifactVersion { name } ... on LinkedVersion { name }
  ... on Run { name } ... on Collection { registry name } ... on Artifact { project name }
  ... on Registry { name } ... on Project { name } }`;

interface Named {
  id: string;
  name?: string;
  registry?: string;
  project?: string;
}

export function useNames(events: Pick<EventRow, "before" | "after">[] | undefined): ReadonlyMap<string, string> {
  const client = useApolloClient();
  const [names, setNames] = useState<ReadonlyMap<string, string>>(new Map());
  const wanted = namedIds(events ?? []).filter((id) => !names.has(id));
  const key = wanted.join(",");
  useEffect(() => {
    if (!key) return;
    let live = true;
    const ids = key.split(",");
    const chunks = [];
    for (let at = 0; at < ids.length; at += PER_QUERY) chunks.push(ids.slice(at, at + PER_QUERY));
    Promise.all(
      chunks.map((chunk) =>
        client.query<Record<string, Named | null>>({
          query: gql(
            `query(${chunk.map((_, n) => `$i${n}: ID!`).join(", ")}) { ${chunk
              .map((_, n) => `n${n}: node(id: $i${n}) { ...named }`)
              .join(" ")} } ${NAMED}`,
          ),
          variables: Object.fromEntries(chunk.map((id, n) => [`i${n}`, id])),
          fetchPolicy: "no-cache", // fragments on Node: the cache knows no possible types
        }),
      ),
    )
      .then((answers) => {
        if (!live) return;
        setNames((known) => {
          const next = new Map(known);
          for (const answer of answers) {
            for (const node of Object.values(answer.data ?? {})) {
              if (!node?.name) continue;
              const within = node.registry ?? node.project;
              next.set(node.id, within ? `${within}/${node.name}` : node.name);
            }
          }
          for (const id of ids) if (!next.has(id)) next.set(id, id); // unreadable: its id
          return next;
        });
      })
      .catch(() => undefined); // names are a nicety: the ids stay
    return () => {
      live = false;
    };
  }, [client, key]);
  return names;
}
