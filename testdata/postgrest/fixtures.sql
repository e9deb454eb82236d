-- Test only, loaded after schema.sql by env.sh start: tables the postgrest
-- package's tests use to provoke the answers a real Supabase project gives.

-- A row-level constraint a batch-mate can violate (Kick caps messages at 500
-- characters): the sink must isolate the row and dead-letter only it.
CREATE TABLE IF NOT EXISTS public.kick_notifications_strict
    (LIKE public.kick_notifications INCLUDING ALL);
ALTER TABLE public.kick_notifications_strict DROP CONSTRAINT IF EXISTS message_max_500;
ALTER TABLE public.kick_notifications_strict
    ADD CONSTRAINT message_max_500 CHECK (char_length(message) <= 500);
GRANT SELECT, INSERT ON public.kick_notifications_strict TO anon;
GRANT ALL ON public.kick_notifications_strict TO service_role;
ALTER TABLE public.kick_notifications_strict ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS kickwatch_insert ON public.kick_notifications_strict;
CREATE POLICY kickwatch_insert ON public.kick_notifications_strict FOR INSERT TO anon WITH CHECK (true);
DROP POLICY IF EXISTS kickwatch_select ON public.kick_notifications_strict;
CREATE POLICY kickwatch_select ON public.kick_notifications_strict FOR SELECT TO anon USING (true);

-- The common mistake: RLS with an INSERT policy only. ignore-duplicates then
-- fails for the anon role (401 42501), which must read as misconfigured.
CREATE TABLE IF NOT EXISTS public.kick_notifications_insert_only
    (LIKE public.kick_notifications INCLUDING ALL);
GRANT SELECT, INSERT ON public.kick_notifications_insert_only TO anon;
GRANT ALL ON public.kick_notifications_insert_only TO service_role;
ALTER TABLE public.kick_notifications_insert_only ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS kickwatch_insert ON public.kick_notifications_insert_only;
CREATE POLICY kickwatch_insert ON public.kick_notifications_insert_only FOR INSERT TO anon WITH CHECK (true);

-- No grants at all: 401 42501 "permission denied" for anon, 403 for
-- authenticated (any role but the anon one).
CREATE TABLE IF NOT EXISTS public.kick_notifications_no_grant
    (LIKE public.kick_notifications INCLUDING ALL);
REVOKE ALL ON public.kick_notifications_no_grant FROM anon, authenticated;

NOTIFY pgrst, 'reload schema';
