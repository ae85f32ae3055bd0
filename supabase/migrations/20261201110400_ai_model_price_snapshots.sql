-- A price applies to its exact model name or a dated snapshot of it, nothing else.
--
-- Before: any name starting with a priced name and '-' took that price, so `gpt-4.1-pro` or
-- `gpt-4o-realtime-preview` cost what `gpt-4.1` / `gpt-4o` cost: an allowed model without a price of its
-- own was silently priced as a cheaper one. Now the rest of the name must be a snapshot suffix as the API
-- reports them: `-YYYY-MM-DD` (`gpt-4o-mini-2024-07-18`) or `-MMDD` (`gpt-4-0613`). Anything else has no
-- price, so publishing, reserving and calling it are refused until the operator prices it.
-- The signature is unchanged, so its grants stay.

create or replace function private.ai_model_price(p_provider text, p_model text)
returns public.ai_model_prices
language sql stable
set search_path = ''
as $$
  select pr.* from public.ai_model_prices pr
  where pr.provider = p_provider
    and (pr.model = p_model
         or (starts_with(p_model, pr.model || '-')
             and substr(p_model, length(pr.model) + 2) ~ '^([0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4})$'))
  order by length(pr.model) desc
  limit 1
$$;
