-- SPDX-License-Identifier: MIT
--
-- tw.lua: the controller's state transitions, run inside Redis (EVALSHA,
-- loaded by tapwarden-controller).  Each call is atomic, so any number of
-- controller instances can ingest reports and serve operators at once
-- without locks: a decision, its audit entry and its commands to every
-- agent are written together or not at all.
--
-- ARGV[1] = key prefix, ARGV[2] = function, ARGV[3..] = its arguments.
-- Keys are derived from the prefix (one Redis, or a primary with
-- replicas; not Redis Cluster).  Every value that came from a guest or
-- an operator is stored as data (hash values, JSON strings), never used
-- to build a key except a validated UUID or agent id.
--
-- Returns a JSON string (reads) or a JSON summary of what was decided.

local P = ARGV[1]
local FN = ARGV[2]

local function K(...)
  return P .. ':' .. table.concat({...}, ':')
end

local HIST_MAX = 99          -- LTRIM end index: 100 entries
local EVIDENCE_MAX = 19
local AUDIT_MAXLEN = '1000000'
local CMD_MAXLEN = '10000'
local DONE_TTL = 3600
local EVENTS_MAXLEN = '10000'
local SERIES_MAX = 359       -- LTRIM end index: 360 samples of 10 s = one hour
local BUCKET_S = 600         -- the VM list's "last hour": six 10-minute buckets

-- The operator behind a change (free text, next to the token's name).
local OPERATOR = ''

-- ---- small helpers ---------------------------------------------------------

local function enc(v) return cjson.encode(v) end

-- JSON array of already-encoded items (cjson turns {} into an object).
local function arr(items) return '[' .. table.concat(items, ',') .. ']' end

local function dec(s)
  if not s then return nil end
  local ok, v = pcall(cjson.decode, s)
  if ok and type(v) == 'table' then return v end
  return nil
end

local function hash(key)
  local flat = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  return h
end

local function uuid_ok(u)
  return type(u) == 'string' and #u == 36 and
    u:match('^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$') ~= nil
end

local function id_ok(s)
  return type(s) == 'string' and #s >= 1 and #s <= 64 and s:match('^[%w%._%-]+$') ~= nil
end

local function sid(s)               -- stream id "ms-seq" -> ms, seq
  local a, b = string.match(s or '', '^(%d+)%-(%d+)$')
  if not a then return 0, 0 end
  return tonumber(a), tonumber(b)
end

local function sid_le(a, b)         -- a <= b
  local am, as = sid(a)
  local bm, bs = sid(b)
  return am < bm or (am == bm and as <= bs)
end

-- The live feed (GET /v1/events): every audit entry and every alert.
local function event(now, typ, vm, actor, reason)
  local name = ''
  if vm and vm ~= '' then name = redis.call('HGET', K('vm', vm), 'name') or '' end
  redis.call('XADD', K('events'), 'MAXLEN', '~', EVENTS_MAXLEN, '*',
    'ts', tostring(now), 'type', typ, 'vm', vm or '', 'name', name, 'actor', actor,
    'operator', OPERATOR, 'reason', reason or '')
end

local function audit(now, actor, action, vm, reason, details)
  local id = redis.call('XADD', K('audit'), 'MAXLEN', '~', AUDIT_MAXLEN, '*',
    'ts', tostring(now), 'actor', actor, 'operator', OPERATOR, 'action', action, 'vm', vm or '',
    'reason', reason or '', 'details', details and enc(details) or '{}')
  redis.call('HINCRBY', K('counters'), 'audit:' .. action, 1)
  event(now, action, vm, actor, reason)
  return id
end

-- The VM's summary changed: controllers re-read it (poll) into their list.
local function dirty(uuid)
  redis.call('ZADD', K('vmver'), redis.call('INCR', K('vmseq')), uuid)
end

local function reason_kind(origin, reason)
  if origin == 'manual' then return 'manual' end
  if string.sub(reason or '', 1, 9) == 'campaign:' then return 'campaign' end
  return 'detection'
end

local function history(uuid, now, event, fields)
  local h = fields or {}
  h.ts = now
  h.event = event
  redis.call('LPUSH', K('vmhist', uuid), enc(h))
  redis.call('LTRIM', K('vmhist', uuid), 0, HIST_MAX)
end

local function agents()
  local a = redis.call('SMEMBERS', K('agents'))
  table.sort(a)
  return a
end

-- Send op/body to the agents (all when only is nil) and remember, per
-- decision, which command id each agent got: the agent's acknowledged
-- cursor tells who has not applied it yet.
local function fanout(decision, op, body, only)
  body.decision = decision
  local js = enc(body)
  local targets = only or agents()
  for _, a in ipairs(targets) do
    local id = redis.call('XADD', K('cmd', a), 'MAXLEN', '~', CMD_MAXLEN, '*',
      'v', '1', 'op', op, 'body', js)
    redis.call('HSET', K('decision', decision), a, id)
  end
  redis.call('EXPIRE', K('decision', decision), 7 * 86400)
  redis.call('ZADD', K('decisions'), tonumber((sid(decision))) or 0, decision)
  redis.call('HINCRBY', K('counters'), 'decisions', 1)
end

local function pending_agents(decision)
  local out = {}
  if not decision or decision == '' then return out end
  local h = hash(K('decision', decision))
  for a, cmd in pairs(h) do
    local acked = redis.call('HGET', K('agent', a), 'cmd_acked')
    if not acked or not sid_le(cmd, acked) then table.insert(out, a) end
  end
  table.sort(out)
  return out
end

local function wl_get(uuid, now)
  local r = dec(redis.call('HGET', K('whitelist'), uuid))
  if r and r.expires and r.expires > 0 and r.expires <= now then return nil end
  return r
end

local function exempt(uuid, now)     -- a full exemption (not raised limits)
  local r = wl_get(uuid, now)
  return r ~= nil and (r.limits == nil or r.limits == cjson.null)
end

local function get_block(uuid, now)
  local b = dec(redis.call('HGET', K('blocks'), uuid))
  if b and b['until'] and b['until'] > now then return b end
  return nil
end

local function vm_touch(uuid, name, agent, now)
  local vk = K('vm', uuid)
  if redis.call('EXISTS', vk) == 0 then
    redis.call('HSET', vk, 'first_seen', now, 'offences', 0, 'state', 'ok')
  end
  if name and name ~= '' then redis.call('HSET', vk, 'name', name) end
  if agent then
    local prev = redis.call('HGET', vk, 'hypervisor')
    if prev and prev ~= agent then
      history(uuid, now, 'migrated', { from = prev, to = agent })
      audit(now, 'agent:' .. agent, 'migrate', uuid, 'seen on ' .. agent .. ' (was ' .. prev .. ')', { from = prev, to = agent })
    end
    redis.call('HSET', vk, 'hypervisor', agent)
  end
  redis.call('HSET', vk, 'last_seen', now)
  redis.call('ZADD', K('vms'), now, uuid)
  dirty(uuid)
end

-- Block uuid until `till` (extends, never shortens), audit, tell agents.
-- Returns the decision id.
local function do_block(uuid, name, till, origin, reason, actor, now, details)
  local cur = get_block(uuid, now)
  if cur and cur['until'] >= till and (cur.origin == 'manual' or origin ~= 'manual') then
    return nil
  end
  local decision = audit(now, actor, 'block', uuid, reason, details)
  local vk = K('vm', uuid)
  local b = { uuid = uuid, name = name or redis.call('HGET', vk, 'name') or '', ['until'] = till,
    origin = origin, reason = reason, actor = actor, decision = decision, created = now,
    hypervisor = redis.call('HGET', vk, 'hypervisor') or '' }
  redis.call('HSET', K('blocks'), uuid, enc(b))
  redis.call('HSET', vk, 'state', 'blocked')
  redis.call('HINCRBY', K('counters'), 'block:' .. reason_kind(origin, reason), 1)
  dirty(uuid)
  history(uuid, now, 'blocked', { actor = actor, reason = reason, origin = origin, ['until'] = till,
    duration_s = till - now, decision = decision })
  fanout(decision, 'block', { uuid = uuid, name = b.name, ['until'] = till, origin = origin, reason = reason })
  return decision
end

local function do_unblock(uuid, reason, actor, now, action)
  local cur = get_block(uuid, now)
  if not cur then return nil end
  redis.call('HDEL', K('blocks'), uuid)
  redis.call('HSET', K('vm', uuid), 'state', 'ok')
  dirty(uuid)
  local decision = audit(now, actor, action or 'unblock', uuid, reason, { previous = cur })
  history(uuid, now, 'unblocked', { actor = actor, reason = reason, decision = decision })
  fanout(decision, 'unblock', { uuid = uuid, reason = reason })
  return decision
end

-- The escalation ladder: the VM's offence count (forgotten after a quiet
-- `forget` seconds) picks the step; 0 in the ladder means "manual".
local function escalate(uuid, now, pol)
  local vk = K('vm', uuid)
  local last = tonumber(redis.call('HGET', vk, 'last_offence') or '0')
  local n = tonumber(redis.call('HGET', vk, 'offences') or '0')
  if last > 0 and now - last > pol.forget_after then n = 0 end
  n = n + 1
  redis.call('HSET', vk, 'offences', n, 'last_offence', now)
  local ladder = pol.ladder
  local step = ladder[math.min(n, #ladder)]
  return n, step
end

local MANUAL_S = 10 * 365 * 86400

-- ---- ingest -------------------------------------------------------------------

local function ingest_verdict(agent, v, now, pol, out)
  if not uuid_ok(v.vm) then return end
  vm_touch(v.vm, v.name, agent, now)
  local vk = K('vm', v.vm)
  redis.call('LPUSH', K('vmev', v.vm), enc({ ts = now, agent = agent, verdict = v }))
  redis.call('LTRIM', K('vmev', v.vm), 0, EVIDENCE_MAX)
  local rules = {}
  for _, r in ipairs(type(v.rules) == 'table' and v.rules or {}) do
    if type(r) == 'table' and type(r.name) == 'string' then table.insert(rules, r.name) end
  end
  local rtext = table.concat(rules, ',')
  if v.verdict == 'alert' then
    redis.call('HSET', vk, 'alert_since', now)
    if redis.call('HGET', vk, 'state') ~= 'blocked' then redis.call('HSET', vk, 'state', 'alert') end
    history(v.vm, now, 'alert', { actor = 'agent:' .. agent, rules = rtext, downgraded = v.downgraded })
    event(now, 'alert', v.vm, 'agent:' .. agent, 'detection: ' .. (rtext ~= '' and rtext or 'policy'))
    out.alerts = (out.alerts or 0) + 1
  elseif v.verdict == 'block' and not v.observe_only then
    local n, step = escalate(v.vm, now, pol)
    local agent_s = type(v.duration) == 'number' and v.duration or MANUAL_S
    local dur = step == 0 and MANUAL_S or step
    if agent_s > dur then dur = agent_s end
    local reason = 'detection: ' .. (rtext ~= '' and rtext or 'policy')
    if n > 1 then reason = reason .. ' (offence ' .. n .. ')' end
    local d = do_block(v.vm, v.name, now + dur, 'auto', reason, 'agent:' .. agent, now,
      { rules = rules, offence = n, agent_duration_s = agent_s, duration_s = dur })
    if d then out.blocks = (out.blocks or 0) + 1 end
    if dur > agent_s then
      audit(now, 'controller', 'escalate', v.vm, 'repeat offender: offence ' .. n, { duration_s = dur, agent_duration_s = agent_s })
    end
  elseif v.verdict == 'block' then
    history(v.vm, now, 'would block', { actor = 'agent:' .. agent, rules = rtext })
  elseif v.verdict == 'ok' then
    redis.call('HDEL', vk, 'alert_since')
    if redis.call('HGET', vk, 'state') == 'alert' then redis.call('HSET', vk, 'state', 'ok') end
  end
end

-- Campaigns: the same fingerprint from many VMs within the window.
local function campaign_check(agent, uuid, fps, now, pol, out)
  if not pol.campaign_enabled or type(fps) ~= 'table' then return end
  for _, kind in ipairs({ 'digest', 'subject' }) do
    for _, fp in ipairs(type(fps[kind]) == 'table' and fps[kind] or {}) do
      local key, count = fp[1], tonumber(fp[2])
      if type(key) == 'string' and key:match('^%x+$') and #key <= 16 and count and count >= pol.campaign_min_messages then
        local zk = K('fp', kind, key)
        redis.call('ZADD', zk, now, uuid)
        redis.call('ZREMRANGEBYSCORE', zk, '-inf', now - pol.campaign_window)
        redis.call('EXPIRE', zk, pol.campaign_window)
        local members = redis.call('ZRANGE', zk, 0, -1)
        if #members >= pol.campaign_min_vms then
          local first = redis.call('SET', K('campaign', kind, key), now, 'NX', 'EX', pol.campaign_window) ~= false
          local blocked = {}
          for _, m in ipairs(members) do
            if not exempt(m, now) and not get_block(m, now) then
              local d = do_block(m, nil, now + pol.campaign_block, 'auto',
                'campaign: same ' .. kind .. ' ' .. key .. ' from ' .. #members .. ' VMs', 'controller', now,
                { kind = kind, fingerprint = key, vms = members })
              if d then table.insert(blocked, m) end
            end
          end
          if first or #blocked > 0 then
            audit(now, 'controller', 'campaign', '', kind .. ' ' .. key .. ' from ' .. #members .. ' VMs',
              { kind = kind, fingerprint = key, vms = members, blocked = blocked })
            out.campaigns = (out.campaigns or 0) + 1
          end
        end
      end
    end
  end
end

local function ingest_stats(agent, s, now, pol, out)
  for _, v in ipairs(type(s.vms) == 'table' and s.vms or {}) do
    if type(v) == 'table' and uuid_ok(v.uuid) then
      vm_touch(v.uuid, v.name, agent, now)
      local vk = K('vm', v.uuid)
      local sample = { ts = now }
      for _, f in ipairs({ 'sessions', 'messages', 'rcpts', 'rejected', 'deferred', 'user_unknown', 'blocklist' }) do
        local n = tonumber(v[f])
        n = (n and n > 0) and math.floor(n) or 0
        if n > 0 then redis.call('HINCRBY', vk, f .. '_total', n) end
        sample[f] = n
      end
      redis.call('LPUSH', K('vmts', v.uuid), enc(sample))
      redis.call('LTRIM', K('vmts', v.uuid), 0, SERIES_MAX)
      -- the last hour in 10-minute buckets: {bucket, messages, rcpts, rejected}
      local cur = math.floor(now / BUCKET_S)
      local old = dec(redis.call('HGET', vk, 'recent')) or {}
      local keep, found = {}, false
      for _, b in ipairs(old) do
        if type(b) == 'table' and tonumber(b[1]) and tonumber(b[1]) > cur - 6 then
          if tonumber(b[1]) == cur then
            b[2] = b[2] + sample.messages; b[3] = b[3] + sample.rcpts; b[4] = b[4] + sample.rejected
            found = true
          end
          table.insert(keep, b)
        end
      end
      if not found then table.insert(keep, { cur, sample.messages, sample.rcpts, sample.rejected }) end
      redis.call('HSET', vk, 'recent', enc(keep))
      campaign_check(agent, v.uuid, v.fps, now, pol, out)
    end
  end
end

local function ingest_inventory(agent, inv, now)
  for _, v in ipairs(type(inv.vms) == 'table' and inv.vms or {}) do
    if type(v) == 'table' and uuid_ok(v.uuid) then
      local vk = K('vm', v.uuid)
      local prev = redis.call('HGET', vk, 'hypervisor')
      vm_touch(v.uuid, v.name, agent, now)
      -- a blocked VM that moved here: make sure this agent has the block
      local b = get_block(v.uuid, now)
      if b and prev ~= agent then
        fanout(b.decision, 'block', { uuid = v.uuid, name = b.name, ['until'] = b['until'], origin = b.origin,
          reason = b.reason }, { agent })
      end
    end
  end
end

local function ingest_ack(agent, a, now)
  if type(a.decision) == 'string' and a.decision ~= '' then
    redis.call('HSET', K('decres', a.decision), agent, tostring(a.result))
    redis.call('EXPIRE', K('decres', a.decision), 7 * 86400)
  end
  if a.result == 'failed' then
    audit(now, 'agent:' .. agent, 'agent_failed', uuid_ok(a.vm) and a.vm or '', tostring(a.message),
      { cmd = a.cmd, op = a.op, decision = a.decision })
  end
end

local function ingest_enforce(agent, e, now)
  if not uuid_ok(e.vm) then return end
  if e.error and e.error ~= 0 then
    history(e.vm, now, 'enforcement failed', { agent = agent, action = e.action, message = e.message })
    audit(now, 'agent:' .. agent, 'agent_failed', e.vm, tostring(e.message), e)
  elseif e.action == 'block' or e.action == 'unblock' then
    history(e.vm, now, 'applied', { agent = agent, action = e.action, taps = e.taps, origin = e.origin })
  end
end

-- ARGV: agent, entry id, type, ts, body, now, policy JSON
local function ingest()
  local agent, eid, typ, body, now = ARGV[3], ARGV[4], ARGV[5], ARGV[7], tonumber(ARGV[8])
  local pol = dec(ARGV[9])
  if not id_ok(agent) then return enc({ skipped = 'bad agent id' }) end
  -- exactly once: an entry claimed from a crashed controller may have been
  -- applied already
  if not redis.call('SET', K('done', agent, eid), '1', 'NX', 'EX', DONE_TTL) then
    return enc({ duplicate = true })
  end
  redis.call('INCR', K('ingested'))
  local b = dec(body)
  if not b then
    redis.call('INCR', K('ingest_bad'))
    return enc({ skipped = 'bad body' })
  end
  local out = {}
  if typ == 'verdict' then ingest_verdict(agent, b, now, pol, out)
  elseif typ == 'stats' then ingest_stats(agent, b, now, pol, out)
  elseif typ == 'inventory' then ingest_inventory(agent, b, now)
  elseif typ == 'ack' then ingest_ack(agent, b, now)
  elseif typ == 'enforce' then ingest_enforce(agent, b, now)
  elseif typ == 'heartbeat' then redis.call('HSET', K('agent', agent), 'health_report', body)
  end
  out.type = typ
  return enc(out)
end

-- ---- operators' actions -------------------------------------------------------

local function block_view(b, now)
  b.remaining_s = b['until'] - now
  local p = pending_agents(b.decision)
  b.pending_agents = nil
  local s = enc(b)
  local pa = {}
  for _, a in ipairs(p) do table.insert(pa, enc(a)) end
  return s:sub(1, -2) .. ',"pending_agents":' .. arr(pa) .. '}'
end

-- API replies: '{"status":N,...' first, so the C side need not parse them.
local function err(status, msg) return '{"status":' .. status .. ',"error":' .. enc(msg) .. '}' end
local function ok(status, body) return '{"status":' .. status .. ',"body":' .. body .. '}' end

local function act_block()          -- uuid, duration_s, reason, actor, now, operator
  local uuid, dur, reason, actor, now = ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], tonumber(ARGV[7])
  OPERATOR = ARGV[8] or ''
  if not uuid_ok(uuid) then return err(400, 'uuid: not a domain UUID') end
  vm_touch(uuid, nil, nil, now)
  local d = do_block(uuid, nil, now + dur, 'manual', reason, actor, now, { duration_s = dur })
  local b = get_block(uuid, now)
  if not d and b and b.origin ~= 'manual' then
    return err(409, 'already blocked for longer (until ' .. b['until'] .. ')')
  end
  return ok(201, block_view(b, now))
end

local function act_unblock()        -- uuid, reason, actor, now, operator
  local uuid, reason, actor, now = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
  OPERATOR = ARGV[7] or ''
  local d = do_unblock(uuid, reason, actor, now)
  if not d then return err(404, 'VM ' .. uuid .. ' is not blocked') end
  return ok(200, enc({ uuid = uuid, unblocked = true, decision = d }))
end

-- A whitelist request record (P:wlreqs).  Redis' cjson (no empty_array,
-- no array_mt) writes an empty list as {}, and the record's lists are
-- decoded and encoded again on every change: they stay lists here.
local function wlreq_enc(q)
  local js = enc(q)
  for _, k in ipairs({ 'evidence', 'checks', 'ips' }) do
    js = string.gsub(js, '([^\\])"' .. k .. '":{}', '%1"' .. k .. '":[]')
  end
  return js
end

-- The whitelist entry approved request `id` wrote is gone (revoked,
-- expired, or replaced by another entry): the request says so.
local function wlreq_end(id, state, reason, now)
  local q = id and dec(redis.call('HGET', K('wlreqs'), tostring(id)))
  if q and q.state == 'approved' then
    q.state = state
    q.ended = now
    q.ended_reason = reason
    redis.call('HSET', K('wlreqs'), tostring(id), wlreq_enc(q))
  end
end

-- Write whitelist entry r (uuid, customer, ticket, reason, expires, limits,
-- and request when it comes from one), audit it as `action`, tell agents.
local function wl_set(r, actor, now, action)
  r.approver = actor
  r.operator = OPERATOR
  r.created = now
  local prev = redis.call('HGET', K('whitelist'), r.uuid)
  local old = dec(prev)
  if old and old.request and old.request ~= r.request then
    wlreq_end(old.request, 'revoked', 'replaced: ' .. tostring(r.reason), now)
  end
  redis.call('HSET', K('whitelist'), r.uuid, enc(r))
  vm_touch(r.uuid, nil, nil, now)
  local d = audit(now, actor, action, r.uuid, r.reason, r)
  history(r.uuid, now, prev and 'whitelist updated' or 'whitelisted', { actor = actor, ticket = r.ticket,
    expires = r.expires, limits = r.limits, request = r.request })
  fanout(d, 'whitelist_set', { entry = r })
  -- approving a full exemption lifts an active automatic block
  local b = get_block(r.uuid, now)
  if b and b.origin ~= 'manual' and (r.limits == nil or r.limits == cjson.null) then
    do_unblock(r.uuid, 'whitelisted: ticket ' .. tostring(r.ticket), actor, now)
  end
  return d
end

local function act_wl_add()         -- record JSON, actor, now
  local r, actor, now = dec(ARGV[3]), ARGV[4], tonumber(ARGV[5])
  if not r or not uuid_ok(r.uuid) then return err(400, 'uuid: not a domain UUID') end
  OPERATOR = type(r.operator) == 'string' and r.operator or ''
  r.request = nil
  wl_set(r, actor, now, 'whitelist_add')
  return ok(201, enc(r))
end

local function wl_remove(uuid, reason, actor, now, action)
  local cur = dec(redis.call('HGET', K('whitelist'), uuid))
  if redis.call('HDEL', K('whitelist'), uuid) == 0 then return nil end
  wlreq_end(cur and cur.request, action == 'whitelist_expire' and 'expired' or 'revoked', reason, now)
  dirty(uuid)
  local d = audit(now, actor, action, uuid, reason, {})
  history(uuid, now, action == 'whitelist_expire' and 'whitelist expired' or 'whitelist revoked',
    { actor = actor, reason = reason })
  fanout(d, 'whitelist_del', { uuid = uuid, reason = reason })
  return d
end

local function act_wl_revoke()      -- uuid, reason, actor, now, operator
  local uuid, reason, actor, now = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
  OPERATOR = ARGV[7] or ''
  local d = wl_remove(uuid, reason, actor, now, 'whitelist_revoke')
  if not d then return err(404, 'VM ' .. uuid .. ' is not whitelisted') end
  return ok(200, enc({ uuid = uuid, revoked = true, decision = d }))
end

-- Periodic: blocks and whitelist entries that ended; old decisions.
local function tick()               -- now
  local now = tonumber(ARGV[3])
  local out = { expired_blocks = 0, expired_whitelist = 0 }
  local flat = redis.call('HGETALL', K('blocks'))
  for i = 1, #flat, 2 do
    local b = dec(flat[i + 1])
    if not b or not b['until'] or b['until'] <= now then
      redis.call('HDEL', K('blocks'), flat[i])
      redis.call('HSET', K('vm', flat[i]), 'state', 'ok')
      dirty(flat[i])
      history(flat[i], now, 'block ended', { decision = b and b.decision })
      audit(now, 'controller', 'expire', flat[i], 'block ended', b or {})
      out.expired_blocks = out.expired_blocks + 1
    end
  end
  flat = redis.call('HGETALL', K('whitelist'))
  for i = 1, #flat, 2 do
    local r = dec(flat[i + 1])
    if r and r.expires and r.expires > 0 and r.expires <= now then
      wl_remove(flat[i], 'expired (ticket ' .. tostring(r.ticket) .. ')', 'controller', now, 'whitelist_expire')
      out.expired_whitelist = out.expired_whitelist + 1
    end
  end
  -- decisions every agent has applied are no longer "open"
  local open = redis.call('ZRANGE', K('decisions'), 0, 999)
  for _, d in ipairs(open) do
    if #pending_agents(d) == 0 or redis.call('EXISTS', K('decision', d)) == 0 then
      redis.call('ZREM', K('decisions'), d)
    end
  end
  return enc(out)
end

-- ---- reads ---------------------------------------------------------------------

local function agent_view(a, now)
  local h = hash(K('agent', a))
  local hb = tonumber(h.heartbeat or '0')
  local iv = tonumber(h.heartbeat_interval or '5')
  local last = redis.call('XREVRANGE', K('cmd', a), '+', '-', 'COUNT', 1)
  local cmd_last = last[1] and last[1][1] or ''
  local acked = h.cmd_acked or '0-0'
  local pending = 0
  if cmd_last ~= '' and not sid_le(cmd_last, acked) then
    local ms, seq = sid(acked)
    pending = #redis.call('XRANGE', K('cmd', a), '(' .. ms .. '-' .. seq, '+', 'COUNT', 1000)
  end
  local lag = 0
  local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', K('reports', a))
  if ok then
    for _, g in ipairs(groups) do
      local gi = {}
      for i = 1, #g, 2 do gi[g[i]] = g[i + 1] end
      if gi.name == 'controllers' then lag = (tonumber(gi.lag) or 0) + (tonumber(gi.pending) or 0) end
    end
  end
  local health = h.health or '{}'
  if not dec(health) then health = '{}' end
  return '{' .. '"id":' .. enc(a) .. ',"version":' .. enc(h.version or '') ..
    ',"last_heartbeat":' .. hb .. ',"heartbeat_age_s":' .. (hb > 0 and now - hb or -1) ..
    ',"up":' .. tostring(hb > 0 and now - hb <= 3 * iv) ..
    ',"cmd_last":' .. enc(cmd_last) .. ',"cmd_acked":' .. enc(acked) ..
    ',"pending":' .. pending .. ',"reports_pending":' .. lag ..
    ',"spool_pending":' .. (tonumber(h.reports_pending) or 0) ..
    ',"health":' .. health .. '}', hb > 0 and now - hb <= 3 * iv, pending
end

local function r_status()           -- now, controller id, version
  local now = tonumber(ARGV[3])
  local up, total = 0, 0
  for _, a in ipairs(agents()) do
    total = total + 1
    local _, isup = agent_view(a, now)
    if isup then up = up + 1 end
  end
  local blocked = 0
  local flat = redis.call('HVALS', K('blocks'))
  for _, v in ipairs(flat) do
    local b = dec(v)
    if b and b['until'] and b['until'] > now then blocked = blocked + 1 end
  end
  local alerting = 0
  local recent = redis.call('ZRANGEBYSCORE', K('vms'), now - 3600, '+inf')
  for _, u in ipairs(recent) do
    if redis.call('HGET', K('vm', u), 'state') == 'alert' then alerting = alerting + 1 end
  end
  local open = 0
  for _, d in ipairs(redis.call('ZRANGE', K('decisions'), 0, 999)) do
    if #pending_agents(d) > 0 then open = open + 1 end
  end
  return enc({ schema = 1, prefix = P, controller = ARGV[4], version = ARGV[5],
    agents = { total = total, up = up },
    vms = { known = redis.call('ZCARD', K('vms')), blocked = blocked, alerting = alerting },
    whitelist = redis.call('HLEN', K('whitelist')), pending_decisions = open,
    reports = { ingested = tonumber(redis.call('GET', K('ingested')) or '0'),
      malformed = tonumber(redis.call('GET', K('ingest_bad')) or '0') } })
end

local function r_vm()               -- uuid, now
  local uuid, now = ARGV[3], tonumber(ARGV[4])
  local h = hash(K('vm', uuid))
  if not h.first_seen then return err(404, 'no such VM: ' .. uuid) end
  local b = get_block(uuid, now)
  local state = b and 'blocked' or (h.state == 'blocked' and 'ok' or h.state or 'ok')
  local wl = redis.call('HGET', K('whitelist'), uuid)
  local ev = redis.call('LRANGE', K('vmev', uuid), 0, EVIDENCE_MAX)
  local hist = redis.call('LRANGE', K('vmhist', uuid), 0, HIST_MAX)
  local series = redis.call('LRANGE', K('vmts', uuid), 0, SERIES_MAX)
  local totals = {}
  for k, v in pairs(h) do
    if k:match('_total$') then totals[k] = tonumber(v) end
  end
  local head = enc({ uuid = uuid, name = h.name or '', state = state, hypervisor = h.hypervisor or '',
    first_seen = tonumber(h.first_seen), last_seen = tonumber(h.last_seen or '0'),
    offences = tonumber(h.offences or '0'), last_offence = tonumber(h.last_offence or '0'),
    totals = totals })
  return head:sub(1, -2) .. ',"block":' .. (b and block_view(b, now) or 'null') ..
    ',"whitelist":' .. (wl or 'null') .. ',"evidence":' .. arr(ev) .. ',"history":' .. arr(hist) .. ',"series":' .. arr(series) .. '}'
end

local function r_blocks()           -- now
  local now = tonumber(ARGV[3])
  local list = {}
  for _, v in ipairs(redis.call('HVALS', K('blocks'))) do
    local b = dec(v)
    if b and b['until'] and b['until'] > now then table.insert(list, b) end
  end
  table.sort(list, function(x, y) return x['until'] < y['until'] end)
  local items = {}
  for _, b in ipairs(list) do table.insert(items, block_view(b, now)) end
  return '{"blocks":' .. arr(items) .. '}'
end

local function r_whitelist()
  local flat = redis.call('HGETALL', K('whitelist'))
  local keys, vals = {}, {}
  for i = 1, #flat, 2 do table.insert(keys, flat[i]); vals[flat[i]] = flat[i + 1] end
  table.sort(keys)
  local items = {}
  for _, k in ipairs(keys) do if dec(vals[k]) then table.insert(items, vals[k]) end end
  return '{"entries":' .. arr(items) .. '}'
end

local function r_wl_get()
  local v = redis.call('HGET', K('whitelist'), ARGV[3])
  if not v then return err(404, 'VM ' .. ARGV[3] .. ' is not whitelisted') end
  return v
end

local function r_agents()           -- now
  local now = tonumber(ARGV[3])
  local items = {}
  for _, a in ipairs(agents()) do table.insert(items, (agent_view(a, now))) end
  return '{"agents":' .. arr(items) .. '}'
end

local function r_audit()            -- vm, actor, since, until, limit, action
  local vm, actor, since, till, limit = ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
  local action = ARGV[8] or ''
  local hi = till > 0 and (till * 1000 + 999) .. '-18446744073709551615' or '+'
  local lo = since > 0 and tostring(since * 1000) or '-'
  local items = {}
  local cursor = hi
  local scanned = 0
  while #items < limit and scanned < 100000 do
    local batch = redis.call('XREVRANGE', K('audit'), cursor, lo, 'COUNT', 500)
    if #batch == 0 then break end
    for _, e in ipairs(batch) do
      scanned = scanned + 1
      local f = {}
      for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
      if (vm == '' or f.vm == vm) and (actor == '' or f.actor == actor) and (action == '' or f.action == action) then
        local det = f.details
        if not dec(det) then det = '{}' end
        table.insert(items, '{"id":' .. enc(e[1]) .. ',"ts":' .. (tonumber(f.ts) or 0) ..
          ',"actor":' .. enc(f.actor or '') .. ',"operator":' .. enc(f.operator or '') ..
          ',"action":' .. enc(f.action or '') ..
          ',"vm":' .. enc(f.vm or '') .. ',"reason":' .. enc(f.reason or '') .. ',"details":' .. det .. '}')
        if #items >= limit then break end
      end
    end
    if #batch < 500 then break end
    local ms, seq = sid(batch[#batch][1])
    if seq > 0 then cursor = ms .. '-' .. (seq - 1) else cursor = (ms - 1) .. '-18446744073709551615' end
  end
  return '{"entries":' .. arr(items) .. '}'
end

-- Trim report streams: entries every controller has processed go, once a
-- stream holds more than `keep`; the newest processed entry always stays
-- (the agent reads the top to recognise what Redis already has).
local function trim()               -- keep
  local keep = tonumber(ARGV[3])
  local out = {}
  for _, a in ipairs(agents()) do
    local key = K('reports', a)
    if redis.call('XLEN', key) > keep then
      local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', key)
      if ok then
        for _, g in ipairs(groups) do
          local gi = {}
          for i = 1, #g, 2 do gi[g[i]] = g[i + 1] end
          if gi.name == 'controllers' then
            local minid = gi['last-delivered-id']
            local p = redis.call('XPENDING', key, 'controllers')
            if tonumber(p[1]) > 0 then minid = p[2] end
            out[a] = redis.call('XTRIM', key, 'MINID', minid)
          end
        end
      end
    end
  end
  return enc(out)
end

-- ---- the controllers' caches -------------------------------------------------

-- One VM's summary for the VM list (GET /v1/vms, /metrics).
local function vm_row(uuid, now)
  local f = redis.call('HMGET', K('vm', uuid), 'name', 'state', 'hypervisor', 'first_seen', 'last_seen',
    'offences', 'alert_since', 'recent', 'sessions_total', 'messages_total', 'rcpts_total', 'rejected_total',
    'deferred_total', 'user_unknown_total', 'blocklist_total')
  if not f[4] then return nil end
  local b = get_block(uuid, now)
  local wl = wl_get(uuid, now)
  local state = b and 'blocked' or (f[2] == 'alert' and 'alert' or 'ok')
  local recent = f[8]
  if not dec(recent) then recent = '[]' end
  return '{"uuid":' .. enc(uuid) .. ',"name":' .. enc(f[1] or '') .. ',"state":"' .. state ..
    '","hypervisor":' .. enc(f[3] or '') .. ',"first_seen":' .. (tonumber(f[4]) or 0) ..
    ',"last_seen":' .. (tonumber(f[5]) or 0) .. ',"offences":' .. (tonumber(f[6]) or 0) ..
    ',"alert_since":' .. (tonumber(f[7]) or 0) ..
    ',"whitelisted":' .. tostring(wl ~= nil) .. ',"whitelist_expires":' .. (wl and tonumber(wl.expires) or 0) ..
    ',"whitelist_scale":' .. ((wl and type(wl.limits) == 'table' and tonumber(wl.limits.scale)) or 0) ..
    ',"block":' .. (b and enc({ ['until'] = b['until'], origin = b.origin, reason = b.reason or '',
      kind = reason_kind(b.origin, b.reason) }) or 'null') ..
    ',"recent":' .. recent ..
    ',"totals":{"sessions":' .. (tonumber(f[9]) or 0) .. ',"messages":' .. (tonumber(f[10]) or 0) ..
    ',"rcpts":' .. (tonumber(f[11]) or 0) .. ',"rejected":' .. (tonumber(f[12]) or 0) ..
    ',"deferred":' .. (tonumber(f[13]) or 0) .. ',"user_unknown":' .. (tonumber(f[14]) or 0) ..
    ',"blocklist":' .. (tonumber(f[15]) or 0) .. '}}'
end

-- What changed since the caller's last poll: VM summaries (by version),
-- new events, the shared counters, the tokens when they changed.
local function poll()               -- vm version, last event id ('' = none yet), tokens version, now, max rows
  local ver, evid, tver, now, max = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
  local seq = tonumber(redis.call('GET', K('vmseq')) or '0')
  local rows, top = {}, ver
  if seq > ver then
    local z = redis.call('ZRANGEBYSCORE', K('vmver'), '(' .. ver, '+inf', 'WITHSCORES', 'LIMIT', 0, max)
    for i = 1, #z, 2 do
      local r = vm_row(z[i], now)
      if r then table.insert(rows, r) end
      top = tonumber(z[i + 1])
    end
    if #z < 2 * max then top = seq end
  end
  local evs = {}
  local batch
  if evid == '' then
    batch = redis.call('XREVRANGE', K('events'), '+', '-', 'COUNT', 1000)
    local n = #batch
    for i = 1, math.floor(n / 2) do batch[i], batch[n + 1 - i] = batch[n + 1 - i], batch[i] end
  else
    batch = redis.call('XRANGE', K('events'), '(' .. evid, '+', 'COUNT', 500)
  end
  for _, e in ipairs(batch) do
    local f = {}
    for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
    table.insert(evs, '{"id":' .. enc(e[1]) .. ',"ts":' .. (tonumber(f.ts) or 0) .. ',"type":' .. enc(f.type or '') ..
      ',"vm":' .. enc(f.vm or '') .. ',"name":' .. enc(f.name or '') .. ',"actor":' .. enc(f.actor or '') ..
      ',"operator":' .. enc(f.operator or '') .. ',"reason":' .. enc(f.reason or '') .. '}')
  end
  local c = hash(K('counters'))
  local counters = {}
  for k, v in pairs(c) do table.insert(counters, enc(k) .. ':' .. (tonumber(v) or 0)) end
  local tv = tonumber(redis.call('GET', K('tokens_ver')) or '0')
  local toks = 'null'
  if tv ~= tver then
    local items = {}
    for _, v in ipairs(redis.call('HVALS', K('tokens'))) do
      if dec(v) then table.insert(items, v) end
    end
    toks = arr(items)
  end
  return '{"seq":' .. top .. ',"now_seq":' .. seq .. ',"more":' .. tostring(top < seq) .. ',"rows":' .. arr(rows) ..
    ',"events":' .. arr(evs) .. ',"counters":{' .. table.concat(counters, ',') .. '}' ..
    ',"tokens_ver":' .. tv .. ',"tokens":' .. toks .. '}'
end

-- ---- API tokens kept in Redis (admins; the tokens file is the other source) ---

local function tok_create()         -- record JSON {name, role, hash}, actor, now, operator
  local r, actor, now = dec(ARGV[3]), ARGV[4], tonumber(ARGV[5])
  OPERATOR = ARGV[6] or ''
  if not r or not id_ok(r.name) then return err(400, 'name: 1-64 of A-Z a-z 0-9 . _ -') end
  r.created = now
  r.created_by = actor
  if redis.call('HSETNX', K('tokens'), r.name, enc(r)) == 0 then
    return err(409, 'a token named ' .. r.name .. ' exists')
  end
  redis.call('INCR', K('tokens_ver'))
  audit(now, actor, 'token_create', '', 'token ' .. r.name .. ' (' .. tostring(r.role) .. ')', { name = r.name, role = r.role })
  return ok(201, enc({ name = r.name, role = r.role, created = now, created_by = actor }))
end

local function tok_revoke()         -- name, actor, now, operator
  local name, actor, now = ARGV[3], ARGV[4], tonumber(ARGV[5])
  OPERATOR = ARGV[6] or ''
  local r = dec(redis.call('HGET', K('tokens'), name))
  if not r then return err(404, 'no token named ' .. name .. ' in Redis') end
  redis.call('HDEL', K('tokens'), name)
  redis.call('INCR', K('tokens_ver'))
  audit(now, actor, 'token_revoke', '', 'token ' .. name, { name = name, role = r.role })
  return ok(200, enc({ name = name, revoked = true }))
end

-- ---- whitelist requests ----------------------------------------------------------
-- A request (P:wlreqs id -> JSON) carries the customer's evidence and the
-- checklist the controller computed; its files (the sample and the
-- evidence, bytes) live in P:wlreq_files:ID.  States: pending, then
-- approved (then revoked or expired with the whitelist entry) or rejected.

local WLREQ_MAX = 100000     -- requests stored at most; more are refused (503)

local function wlreq_summary(q)
  return { id = q.id, uuid = q.uuid, name = q.name, ticket = q.ticket, customer = q.customer, state = q.state,
    result = q.result, created = q.created, created_by = q.created_by, decided = q.decided,
    decided_by = q.decided_by }
end

local function wlreq_create()       -- record JSON, actor, now, operator, then file name/bytes pairs
  local q, actor, now = dec(ARGV[3]), ARGV[4], tonumber(ARGV[5])
  OPERATOR = ARGV[6] or ''
  if not q or not uuid_ok(q.uuid) then return err(400, 'uuid: not a domain UUID') end
  local open = redis.call('HGET', K('wlreq_open'), q.uuid)
  if open then
    return err(409, 'request ' .. open .. ' for this VM is still pending: approve or reject it first')
  end
  if redis.call('HLEN', K('wlreqs')) >= WLREQ_MAX then
    return err(503, 'too many whitelist requests are stored')
  end
  local id = redis.call('INCR', K('wlreq_seq'))
  vm_touch(q.uuid, nil, nil, now)
  q.id = id
  q.state = 'pending'
  q.created = now
  q.created_by = actor
  q.operator = OPERATOR
  q.name = redis.call('HGET', K('vm', q.uuid), 'name') or ''
  for i = 7, #ARGV, 2 do
    redis.call('HSET', K('wlreq_files', id), ARGV[i], ARGV[i + 1])
  end
  redis.call('HSET', K('wlreqs'), tostring(id), wlreq_enc(q))
  redis.call('HSET', K('wlreq_open'), q.uuid, tostring(id))
  audit(now, actor, 'whitelist_request', q.uuid, 'request ' .. id .. ' (ticket ' .. tostring(q.ticket) ..
    '), checks: ' .. tostring(q.result), { request = id, ticket = q.ticket, result = q.result })
  history(q.uuid, now, 'whitelist requested', { actor = actor, request = id, ticket = q.ticket, result = q.result })
  return ok(201, wlreq_enc(q))
end

local function wlreq_list()         -- state ('' = all), limit
  local state, limit = ARGV[3], tonumber(ARGV[4]) or 100
  local flat = redis.call('HGETALL', K('wlreqs'))
  local rows = {}
  for i = 1, #flat, 2 do
    local q = dec(flat[i + 1])
    if q and (state == '' or q.state == state) then table.insert(rows, q) end
  end
  table.sort(rows, function(a, b) return a.id > b.id end)
  local out = {}
  for i = 1, math.min(#rows, limit) do table.insert(out, enc(wlreq_summary(rows[i]))) end
  return ok(200, '{"requests":' .. arr(out) .. ',"total":' .. #rows .. '}')
end

local function wlreq_get()          -- id
  local v = redis.call('HGET', K('wlreqs'), ARGV[3])
  if not v then return err(404, 'no whitelist request ' .. ARGV[3]) end
  return ok(200, v)
end

local function wlreq_file()         -- id, name: the bytes, or false
  return redis.call('HGET', K('wlreq_files', ARGV[3]), ARGV[4])
end

-- Approve or reject: decision JSON {action, expires, limits, reason, force}.
local function wlreq_decide()       -- id, decision JSON, actor, now, operator
  local id, dd, actor, now = ARGV[3], dec(ARGV[4]), ARGV[5], tonumber(ARGV[6])
  OPERATOR = ARGV[7] or ''
  local q = dec(redis.call('HGET', K('wlreqs'), id))
  if not q then return err(404, 'no whitelist request ' .. id) end
  if not dd then return err(400, 'decision: not JSON') end
  if q.state ~= 'pending' then return err(409, 'request ' .. id .. ' is ' .. tostring(q.state) .. ', not pending') end
  if dd.action == 'approve' then
    if q.result == 'fail' and dd.force ~= true then
      local failed = {}
      for _, c in ipairs(type(q.checks) == 'table' and q.checks or {}) do
        if c.status == 'fail' then table.insert(failed, c.name) end
      end
      return err(409, 'checks failed (' .. table.concat(failed, ', ') .. '): fix the request, or approve with force ' ..
        'and a reason')
    end
    local r = { uuid = q.uuid, customer = q.customer, ticket = q.ticket, reason = dd.reason,
      expires = dd.expires, limits = dd.limits, request = q.id }
    q.decision = wl_set(r, actor, now, 'whitelist_approve')
    q.state = 'approved'
    q.expires = dd.expires
    q.limits = dd.limits
    q.forced = dd.force == true and q.result == 'fail'
  elseif dd.action == 'reject' then
    q.decision = audit(now, actor, 'whitelist_reject', q.uuid, dd.reason, { request = q.id, ticket = q.ticket })
    history(q.uuid, now, 'whitelist request rejected', { actor = actor, request = q.id, reason = dd.reason })
    q.state = 'rejected'
  else
    return err(400, 'action: approve or reject')
  end
  q.decided = now
  q.decided_by = actor
  q.decided_operator = OPERATOR
  q.decision_reason = dd.reason
  redis.call('HSET', K('wlreqs'), id, wlreq_enc(q))
  redis.call('HDEL', K('wlreq_open'), q.uuid)
  return ok(200, wlreq_enc(q))
end

-- New checks for a pending request (a recheck): checks JSON, result.
local function wlreq_checks()       -- id, checks JSON, result, actor, now, operator
  local id, checks, result, actor, now = ARGV[3], dec(ARGV[4]), ARGV[5], ARGV[6], tonumber(ARGV[7])
  OPERATOR = ARGV[8] or ''
  local q = dec(redis.call('HGET', K('wlreqs'), id))
  if not q then return err(404, 'no whitelist request ' .. id) end
  if q.state ~= 'pending' then return err(409, 'request ' .. id .. ' is ' .. tostring(q.state) .. ', not pending') end
  q.checks = checks or {}
  q.result = result
  q.checked = now
  redis.call('HSET', K('wlreqs'), id, wlreq_enc(q))
  audit(now, actor, 'whitelist_recheck', q.uuid, 'request ' .. id .. ', checks: ' .. result, { request = q.id })
  return ok(200, wlreq_enc(q))
end

local fns = {
  wlreq_create = wlreq_create, wlreq_list = wlreq_list, wlreq_get = wlreq_get, wlreq_file = wlreq_file,
  wlreq_decide = wlreq_decide, wlreq_checks = wlreq_checks,
  ingest = ingest, tick = tick, trim = trim,
  block = act_block, unblock = act_unblock, wl_add = act_wl_add, wl_revoke = act_wl_revoke,
  status = r_status, vm = r_vm, blocks = r_blocks, whitelist = r_whitelist, wl_get = r_wl_get,
  agents = r_agents, audit = r_audit, poll = poll, tok_create = tok_create, tok_revoke = tok_revoke,
}
local f = fns[FN]
if not f then return err(500, 'tw.lua: unknown function ' .. tostring(FN)) end
return f()
