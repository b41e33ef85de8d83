-- grain: one row: the week's distinct interactions with at least one overlap event.
select count(distinct interaction_id) from overlap_events where week_start = $week
