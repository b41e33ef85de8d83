"""The incremental model build: recompute only what the loads since the last build changed.

A run replaces the raw copies of its extracts' windows (``warehouse.load``; the extracts are
recorded in ``run_log``). Each model row depends on a known, small part of the raw data, so an
incremental build works out, in SQL and in the build's transaction, the *scope* of every model
table — the keys whose rows may differ — deletes those rows, and recomputes them with the
model file's own SQL run over scoped inputs.

How each model is maintained is declared in its file's header (``-- kind: incremental by
interaction_id; scope events``, see ``kinds``); ``engine`` applies the kinds in build order;
``scopes`` holds the named scopes, ``models`` each model's scoped inputs, ``context`` the
statements every step shares, ``state`` what is remembered between builds. The scopes
(docs/architecture.md §4):

* copies C — raw copies the new extracts wrote (every loaded row is tagged with its
  extract's window), and the copies the previous build knew in those windows, plus — only
  when the row count shows some — those under the same keys elsewhere (upserts) and those
  removed elsewhere;
* interactions A — the interactions of C, old and new (identity, participants: rules 1-4);
  of them, the *fresh* ones — the warehouse never had them (usually all of a new week) —
  have no model row anywhere: nothing of them is deleted or read back;
* interactions R — A plus the interactions sharing a provider thread with A (rule 6: a
  provider-thread group gives the key of its earliest member with header evidence to its
  members without any); ``match_interactions`` is computed over
  R2 — R plus the members of R's provider-thread groups — and kept for R (R2 is usually R);
* interactions E — R, plus every interaction of an email thread of R (old or new thread id:
  a new message in an old thread can make an old event ``looped_in``), plus every customer
  interaction up to ``dormant_days`` after an owner touch of R (dormancy, rule 7; one span
  per account and owner, a superset);
* score keys — the (account, rep) pairs of E's old and new events, from the earliest changed
  week on (persistence looks back 4 weeks); collaboration keys — (week, account).

Everything else — addresses, domains, CRM-only tables — is per address / per domain / per CRM
snapshot, so it is updated by set difference or left alone. ``match_domain_findings`` counts
distinct interactions per domain, a sum over interactions: its volumes are kept by delta
(the file run over R's old rows, read before anything changes, is subtracted; over R's new
rows, added).

* CRM (``crm``, after a change of the CRM's assignment facts: the CRM-only models are rebuilt
  and compared) — per account and rep the earliest moment its periods differ; accounts M —
  R plus the customer interactions those changes touch (rule 10), what
  match_interaction_accounts and overlap_collaboration recompute; E then starts from M.

The build falls back to a full rebuild when there is no build state, when the CRM's identity
facts or the model SQL changed (``state``), or when ``raw_copies`` no longer has the number of
rows the scopes predict (a change the loader did not record). A changed rule parameter
re-runs the model files using it, and those downstream, after the incremental pass.

Scoped inputs: a model file is run with each unqualified reference to an input table replaced
by a temporary table holding only the scope's rows (``models.INPUTS``). A reference
written ``main.<table>`` is evidence beyond the scope (300_overlap_event_facts.sql: thread members, owner touches;
400_score_weekly.sql: the weeks each pair was active): it reads the whole table, except
where the build gives exactly the rows needed — the members of the candidates' threads and
their participants (T, plus the threads of interactions E holds for dormancy alone), and the
scored pairs' weeks from 4 weeks before the first changed one. Identifiers are only those of
the shipped files and fixed names.
"""

from __future__ import annotations

from overlap.incremental.engine import audit_inputs, build_incremental
from overlap.incremental.state import (
    CRM_INPUTS,
    STATE,
    cleanup,
    ensure_state,
    fingerprint,
    full_build_reason,
    save_state,
)

__all__ = ["CRM_INPUTS", "STATE", "audit_inputs", "build_incremental", "cleanup",
           "ensure_state", "fingerprint", "full_build_reason", "save_state"]
