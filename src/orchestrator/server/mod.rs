//! `cadkit orchestrator`: a reference orchestrator over the embedded environment.
