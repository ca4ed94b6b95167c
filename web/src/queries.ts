// Every query and mutation the pages send: GraphQL is the app's only data source.
import { gql } from "@apollo/client";

export const VIEWER = gql`
  query Viewer {
    viewer {
      user { id name orgAdmin }
      projects
      registries { registry role }
    }
  }
`;

export const PROJECTS = gql`
  query Projects($after: String) {
    projects(first: 50, after: $after) {
      nodes { id name description createdAt }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

const LINK_FIELDS = `id index semver stages deregistered linkedAt linkedBy versionId aliases { name }`;

export const PREVIEWED = 6; // collections a registry shows on the home page

export const REGISTRIES = gql`
  query Registries {
    registries { id name description stages }
  }
`;

// The home page: a registry's first collections, each with the versions an alias or stage names.
export const REGISTRY_PREVIEW = gql`
  query RegistryPreview($registry: String!) {
    collections(registry: $registry, first: ${PREVIEWED}) {
      nodes { id name deprecated links(named: true, first: 100) { nodes { ${LINK_FIELDS} } } }
      pageInfo { hasNextPage }
    }
  }
`;

// The newest changes to what registries hold (not runs' and projects' own), across
// registries, that the reader may see: the home page.
export const REGISTRY_EVENTS = [
  "link.created", "link.deregistered", "link.restored", "link.semver_set", "alias.set", "alias.removed",
  "stage.assigned", "stage.unassigned", "promotion.requested", "promotion.rejected",
  "collection.created", "collection.deprecated", "collection.restored", "collection.renamed",
];
const RECENT = `types: $types, first: 10) { nodes { id seq type actor time before after withheld } }`;
export const RECENT_CHANGES = gql`
  query RecentChanges($types: [String!]) { auditLog(${RECENT} }
`;
/** The same for a member of some registries (one at least: a query of no fields is no query):
 * only an org admin reads the org-wide log, so each registry's is asked for (r0, r1, …, in the
 * order of `registries`). */
export function recentChangesIn(registries: string[]) {
  const each = registries.map((_, i) => `r${i}: auditLog(registry: $r${i}, ${RECENT}`);
  const asked = registries.map((_, i) => `, $r${i}: String!`).join("");
  return gql(`query RecentChangesIn($types: [String!]${asked}) { ${each.join(" ")} }`);
}

export const DASHBOARD = gql`
  query Dashboard($registry: String!, $search: String, $tag: String, $stage: String, $after: String) {
    registry(name: $registry) { id name description stages }
    collections(registry: $registry, search: $search, tag: $tag, stage: $stage, first: 50, after: $after) {
      nodes {
        id name description tags types deprecated
        links(named: true, first: 100) { nodes { ${LINK_FIELDS} } }
        history(first: 1) { nodes { id type actor time } }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

const VERSION_LINK = `${LINK_FIELDS} version { id name project artifactName createdAt producedBy { id name project } }`;

// The newest $first versions, and those an alias or a stage names however old they are.
export const MODEL = gql`
  query Model($registry: String!, $name: String!, $first: Int!) {
    registry(name: $registry) { id name stages }
    collection(registry: $registry, name: $name) {
      id name registry description tags types deprecated deprecatedAt createdAt
      links(includeDeregistered: true, first: $first) {
        nodes { ${VERSION_LINK} }
        pageInfo { hasNextPage }
      }
      named: links(named: true, first: 100) { nodes { ${VERSION_LINK} } }
      history(first: 100) { nodes { id type actor time before after withheld } pageInfo { hasNextPage endCursor } }
    }
  }
`;

export const AUDIT = gql`
  query Audit($actor: String, $registry: String, $types: [String!], $since: DateTime, $after: String) {
    auditLog(actor: $actor, registry: $registry, types: $types, since: $since, first: 50, after: $after) {
      nodes { id seq type actor time registry subjects before after withheld }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

// Whether the hash chain is intact (org admins: the chain spans every registry).
export const AUDIT_CHECK = gql`
  query AuditCheck {
    verifyAuditLog { intact checked reason firstBreak { seq } }
  }
`;

const LINK_PAYLOAD = `link { ${LINK_FIELDS} }`;

export const SET_ALIAS = gql`
  mutation SetAlias($link: String!, $alias: String!) {
    setCollectionAlias(input: { link: $link, alias: $alias }) { ${LINK_PAYLOAD} }
  }
`;
export const REMOVE_ALIAS = gql`
  mutation RemoveAlias($registry: String!, $collection: String!, $alias: String!) {
    removeCollectionAlias(input: { registry: $registry, collection: $collection, alias: $alias }) { __typename }
  }
`;
export const ASSIGN_STAGE = gql`
  mutation AssignStage($link: String!, $stage: String!) {
    assignStage(input: { link: $link, stage: $stage }) { ${LINK_PAYLOAD} }
  }
`;
export const UNASSIGN_STAGE = gql`
  mutation UnassignStage($link: String!, $stage: String!) {
    unassignStage(input: { link: $link, stage: $stage }) { ${LINK_PAYLOAD} }
  }
`;
export const SET_SEMVER = gql`
  mutation SetSemver($link: String!, $semver: String!) {
    setSemver(input: { link: $link, semver: $semver }) { ${LINK_PAYLOAD} }
  }
`;
export const DEREGISTER = gql`
  mutation Deregister($link: String!, $confirm: Boolean! = false) {
    deregisterLink(input: { link: $link, confirmDependents: $confirm }) { ${LINK_PAYLOAD} }
  }
`;
export const LINK_VERSION = gql`
  mutation LinkVersion($registry: String!, $collection: String!, $version: String!) {
    linkVersion(input: { registry: $registry, collection: $collection, version: $version }) { __typename }
  }
`;
export const UPDATE_COLLECTION = gql`
  mutation UpdateCollection($registry: String!, $collection: String!, $description: String!, $tags: [String!]!) {
    updateCollection(input: { registry: $registry, collection: $collection, description: $description, tags: $tags }) {
      collection { id description tags }
    }
  }
`;

export const DEPRECATE = gql`
  mutation Deprecate($registry: String!, $collection: String!, $confirm: String!, $dependents: Boolean! = false) {
    deprecateCollection(
      input: { registry: $registry, collection: $collection, confirm: $confirm, confirmDependents: $dependents }
    ) {
      collection { id deprecated deprecatedAt }
    }
  }
`;
export const RESTORE = gql`
  mutation Restore($registry: String!, $collection: String!) {
    restoreCollection(input: { registry: $registry, collection: $collection }) {
      collection { id deprecated deprecatedAt }
    }
  }
`;

export const VERSION_BY_REF = gql`
  query VersionByRef($ref: String!) {
    artifactVersion(ref: $ref) { id name }
  }
`;

export const LINK_BY_REF = gql`
  query LinkByRef($ref: String!) {
    linkedVersion(ref: $ref) { id versionId }
  }
`;

export const LINEAGE = gql`
  query Lineage(
    $of: ID!, $direction: LineageDirection!, $depth: Int, $kinds: [LineageKind!],
    $artifactTypes: [String!], $projects: [String!], $includeDeleted: Boolean!, $asOf: DateTime,
    $after: String
  ) {
    lineage(of: $of, direction: $direction, depth: $depth, kinds: $kinds, artifactTypes: $artifactTypes,
            projects: $projects, includeDeleted: $includeDeleted, asOf: $asOf, first: 5000, after: $after) {
      depth truncated truncatedReason totalNodes hiddenNodes
      pageInfo { hasNextPage endCursor }
      compact
    }
  }
`;

export const IMPACT = gql`
  query Impact($of: ID!) {
    impact(of: $of) {
      collection { id registry name }
      links { id index semver stages aliases { name } }
    }
  }
`;

export const VERSION_PAGE = gql`
  query VersionPage($ref: String!) {
    artifactVersion(ref: $ref) {
      id name project artifactName type index state description metadata size fileCount aliases
      createdAt committedAt deletedAt
      files(first: 1000) { nodes { path size contentType sha256 } pageInfo { hasNextPage } }
      references { path uri sha256 size }
      producedBy { id name project status config summary }
      consumedBy(first: 100) { nodes { id name project status } pageInfo { hasNextPage } }
    }
  }
`;

export const VERSION_FILES = gql`
  query VersionFiles($ref: String!) {
    artifactVersion(ref: $ref) {
      id name
      files(first: 1000) { nodes { path size contentType sha256 } pageInfo { hasNextPage } }
    }
  }
`;

const EVENT_FIELDS = "id type actor time before after withheld";

// The events about a subject older than those a page showed (History's "Show older events").
export const OLDER_EVENTS = gql`
  query OlderEvents($subject: ID!, $after: String!) {
    history(subject: $subject, first: 100, after: $after) {
      nodes { ${EVENT_FIELDS} }
      pageInfo { hasNextPage endCursor }
    }
  }
`;
export const VERSION_STORY = gql`
  query VersionStory($id: ID!, $ref: String!) {
    artifactVersion(ref: $ref) {
      id
      links { id name stages aliases { name } collection { id registry name } history(first: 50) { nodes { ${EVENT_FIELDS} } } }
    }
    history(subject: $id, first: 50) { nodes { ${EVENT_FIELDS} } }
    impact(of: $id) { collection { id registry name } links { id index semver stages aliases { name } } }
  }
`;

export const PROJECT_PAGE = gql`
  query ProjectPage($name: String!, $after: String) {
    project(name: $name) { id name description createdAt }
    runs(project: $name, first: 50, after: $after) {
      nodes {
        id name status config summary tags jobType group notes actor startedAt endedAt
        outputs { id name type }
        inputs { id name type }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

export const RUN_METRICS = gql`
  query RunMetrics($id: ID!, $keys: [String!]!) {
    run(id: $id) { id metrics(keys: $keys) { key points { step value } } }
  }
`;

export const COMPARE = gql`
  query Compare($links: [String!]!) {
    compare(links: $links) {
      differingConfigKeys
      summaryKeys
      versions {
        link { id index semver }
        run { id name config summary }
        metrics { key points { step value } }
      }
    }
  }
`;

export const DERIVATION = gql`
  query Derivation($from: ID!, $to: ID!) {
    derivation(from: $from, to: $to) { derived chain { id } hiddenNodes }
  }
`;
