-- Test only, loaded by env.sh start before schema.sql is run over it (with the
-- table renamed): the table the older Python bot wrote to, as a Supabase
-- project would hold it. Its shape is assumed from the fields the bot sent
-- (platform, type, channel, username, message, timestamp, url,
-- original_message): no message_id, a serial id. The postgrest tests check
-- that schema.sql upgrades it so kickwatch's idempotent insert works.
CREATE TABLE IF NOT EXISTS public.kick_notifications_legacy (
    id               bigserial PRIMARY KEY,
    platform         text,
    type             text,
    channel          text,
    username         text,
    message          text,
    "timestamp"      timestamptz,
    url              text,
    original_message text,
    created_at       timestamptz DEFAULT now()
);

-- A row the bot wrote: the upgrade must keep it (its message_id stays null).
INSERT INTO public.kick_notifications_legacy (platform, type, channel, username, message, "timestamp", url)
SELECT 'kick', 'mention', 'xqc', 'old_viewer', 'hi @me from the old bot', '2025-01-02T03:04:05Z', 'https://kick.com/xqc'
WHERE NOT EXISTS (SELECT FROM public.kick_notifications_legacy);

-- Supabase's default privileges give anon every table and sequence in public;
-- a serial column's default needs USAGE on its sequence.
GRANT ALL ON public.kick_notifications_legacy TO anon, service_role;
GRANT USAGE, SELECT ON SEQUENCE public.kick_notifications_legacy_id_seq TO anon, service_role;
