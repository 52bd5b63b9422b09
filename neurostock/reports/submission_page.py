"""The report's Submission page: what it reads (submission_decisions,
rpt_submission_reasons, rpt_submission_agreement, submission_decision_rule): the sell
decision the quality rule applies, verdict counts, the reasons ranked by
how many images they stop, examples per reason, the gate beside the ratings, and the
near-duplicate groups with the image kept."""

from __future__ import annotations

from collections import defaultdict

import duckdb

from neurostock.reports.data import query_rows

TABLES = ("submission_decisions", "rpt_submission_reasons", "rpt_submission_agreement")
# The example images' thumbnails go under submission/ (thumbs/ holds the image pages').
EXAMPLE_THUMBS = "submission"
EXAMPLES = 4
GROUPS_SHOWN = 30


def load_submission(con: duckdb.DuckDBPyConnection) -> dict:
    """Everything the Submission page shows; has_submission False when the warehouse
    predates the gate or judged no image."""
    present = {r[0] for r in con.execute(
        "select table_name from duckdb_tables() where schema_name = 'main'").fetchall()}
    if not all(t in present for t in TABLES):
        return {"has_submission": False}
    policy = query_rows(con, "select any_value(policy) as policy, any_value(policy_version) "
                             "as version, count(*) as n from submission_decisions")[0]
    if not policy["n"]:
        return {"has_submission": False}
    examples = defaultdict(list)
    has_files = con.execute("select count(*) from duckdb_tables() where schema_name = "
                            "'files' and table_name = 'images'").fetchone()[0]
    file_columns = ("f.sha256 as file_sha256, f.resolved_path, f.status as file_status"
                    if has_files else "null as file_sha256, null as resolved_path, "
                                      "null as file_status")
    file_join = "left join files.images as f using (image_id)" if has_files else ""
    for row in query_rows(con, f"""
            with reasons as (
                select d.image_id, d.image_set, d.title, d.verdict, r.rule_id, r.status,
                       r.detail,
                       row_number() over (partition by r.rule_id, r.status
                                          order by d.quality_rank desc nulls last,
                                                   d.image_id) as n
                from submission_decisions as d, unnest(d.reasons) as t(r)
            )
            select reasons.*, {file_columns}
            from reasons {file_join}
            where n <= {EXAMPLES} order by rule_id, status, n"""):
        examples[f"{row['rule_id']}/{row['status']}"].append(row)
    groups = defaultdict(list)
    for row in query_rows(con, f"""
            select near_duplicate_group_id as group_id, image_id, image_set, verdict, title,
                   quality_score, similar_to_image_id
            from submission_decisions
            where near_duplicate_group_id in (
                select distinct near_duplicate_group_id from submission_decisions
                where near_duplicate_group_id is not null
                order by 1 limit {GROUPS_SHOWN})
            order by group_id, verdict = 'submit' desc, quality_rank desc nulls last"""):
        groups[row["group_id"]].append(row)
    decision = (query_rows(con, "select * from submission_decision_rule")
                if "submission_decision_rule" in present else [])
    # What to do now (the report's index opens with it): pool images the decision
    # recommends, and how many of those the marketplace's other rules stop, and why.
    now = query_rows(con, """
        select count(*) as n_pool,
               count(*) filter (where not list_contains(reason_ids, 'quality'))
                   as n_recommended,
               count(*) filter (where verdict = 'submit') as n_submit,
               count(*) filter (where not list_contains(reason_ids, 'quality')
                                and verdict != 'submit') as n_blocked
        from submission_decisions where image_set = 'pool'""")[0]
    now["blocked_by"] = query_rows(con, """
        select r.rule_id, count(distinct d.image_id) as n
        from submission_decisions as d, unnest(d.reasons) as t(r)
        where d.image_set = 'pool' and not list_contains(d.reason_ids, 'quality')
          and d.verdict != 'submit'
        group by r.rule_id order by n desc, r.rule_id limit 5""")
    return {
        "has_submission": True,
        "submission_policy": policy,
        "submission_decision": decision[0] if decision else None,
        "submission_now": now,
        "submission_outcomes": query_rows(con, """
            select * from rpt_submission_outcomes
            order by case breakdown when 'all' then 0 when 'gate_verdict' then 1
                     when 'decision_decile' then 2 when 'rejection_reason' then 3
                     when 'experiment_model' then 4 else 5 end,
                     breakdown, try_cast(value as integer), n_sent desc, value"""
                                          ) if "rpt_submission_outcomes" in present else [],
        "outcome_agreement": query_rows(con, """
            select * from rpt_outcome_agreement where auc is not null
            order by label, abs(auc - 0.5) desc, scorer_id"""
                                        ) if "rpt_outcome_agreement" in present else [],
        "submission_verdicts": query_rows(con, """
            select image_set, verdict, count(*) as n,
                   count(*) / sum(count(*)) over (partition by image_set) as share
            from submission_decisions group by image_set, verdict order by image_set, verdict"""),
        "submission_reasons": query_rows(con, """
            select * from rpt_submission_reasons order by image_set, rank"""),
        "submission_examples": dict(examples),
        "submission_agreement": query_rows(con, """
            select * from rpt_submission_agreement order by rating, verdict"""),
        "submission_groups": dict(groups),
        "submission_n_groups": con.execute(
            "select count(distinct near_duplicate_group_id) from submission_decisions"
        ).fetchone()[0],
    }


def example_thumbnails(data: dict, outputs, workers: int) -> dict[int, str]:
    """Thumbnails of the Submission page's example images (their files as `images sync`
    checked them): image id -> sha256 of the file, for those made."""
    from neurostock.reports.thumbnails import ThumbnailJob, make_thumbnails

    rows = [r for rows in data.get("submission_examples", {}).values() for r in rows
            if r.get("file_status") == "ok" and r.get("file_sha256") and r.get("resolved_path")]
    if not rows:
        return {}
    failed = make_thumbnails((ThumbnailJob(r["file_sha256"], r["resolved_path"]) for r in rows),
                             outputs.root / EXAMPLE_THUMBS, workers=workers,
                             outputs=outputs)["failed"]
    return {r["image_id"]: r["file_sha256"] for r in rows if r["file_sha256"] not in failed}
