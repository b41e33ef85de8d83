-- grain: one row: the week's interactions with a customer.
select count(*) from interactions where week_start = $week and is_customer
