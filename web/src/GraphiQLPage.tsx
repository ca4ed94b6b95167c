// GraphiQL from the app's own bundle (no CDN), sending the signed-in user's key.
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import "graphiql/graphiql.css";
import { useMemo } from "react";
import { Link } from "react-router-dom";
import { apiKey } from "./client";

export default function GraphiQLPage() {
  const fetcher = useMemo(
    () => createGraphiQLFetcher({ url: "/graphql", headers: { authorization: `Bearer ${apiKey() ?? ""}` } }),
    [],
  );
  document.title = "GraphiQL · Forebear";
  return (
    <div className="graphiql-frame">
      <header>
        <Link to="/" className="brand">
          Forebear
        </Link>
        <span className="muted">GraphiQL: queries run with your key</span>
      </header>
      <GraphiQL fetcher={fetcher} defaultQuery={"{\n  viewer {\n    user { name }\n    projects\n  }\n}\n"} />
    </div>
  );
}
