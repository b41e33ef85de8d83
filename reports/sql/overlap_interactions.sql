-- grain: one row: the week's distinct interactions with at least one risk event.
select count(distinct interaction_id) from overlap_events
where week_start = $week and category in ('backdoor', 'coverage_gap', 'looped_in')  -- risk only
