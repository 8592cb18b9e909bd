/* SPDX-License-Identifier: MIT */
/*
 * tapwarden NOC dashboard (served by tapwarden-controller at /ui/app.js).
 *
 * No framework, no build step.  Every value that came from the API (and so
 * possibly from a guest: names, EHLO, subjects; or an operator: reasons,
 * tickets) is put into the page with textContent / createTextNode or as a
 * safe attribute value; nothing here parses HTML.  Links are built from
 * encodeURIComponent'd parts.  The page runs under
 * "script-src 'self'; style-src 'self'": no inline script, no inline style
 * attributes (CSSOM property sets only).
 */
'use strict';

(function () {
	const TOKEN_KEY = 'tw_token';
	const OPERATOR_KEY = 'tw_operator';
	const REFRESH_MS = 5000;
	const FEED_KEEP = 1000;
	const FEED_SHOW = 300;
	const SVGNS = 'http://www.w3.org/2000/svg';
	const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
	const EVENT_TYPES = ['block', 'unblock', 'expire', 'alert', 'campaign', 'escalate', 'migrate',
		'whitelist_add', 'whitelist_revoke', 'whitelist_expire', 'agent_failed', 'token_create',
		'token_revoke', 'whitelist_request', 'whitelist_approve', 'whitelist_reject', 'whitelist_recheck'];
	const REQ_ID_RE = /^[1-9][0-9]{0,17}$/;
	const REQ_STATES = ['pending', 'approved', 'rejected', 'revoked', 'expired'];

	const S = {
		token: null,
		me: null,           /* {name, role} */
		skew: 0,            /* server clock - local clock, seconds */
		view: null,         /* {name, refresh(), stop()} */
		timers: [],
		feed: null,         /* feed state, see feedStart */
		events: [],         /* newest last */
		eventListeners: new Set(),
	};

	const $ = (id) => document.getElementById(id);

	/* ---- DOM helpers (text only) ---------------------------------------------------- */

	/* h('tag.class1.class2', {attr: value, ...}, child, ...): children are nodes,
	 * strings (become text nodes), numbers, arrays, null/false (skipped).
	 * Attributes are set with setAttribute; "on*" attributes are refused so no
	 * caller can smuggle a handler in. */
	function h(spec, attrs, ...kids) {
		const parts = spec.split('.');
		const el = document.createElement(parts[0] || 'div');
		for (let i = 1; i < parts.length; i++)
			if (parts[i]) el.classList.add(parts[i]);
		setAttrs(el, attrs);
		append(el, kids);
		return el;
	}

	function svg(tag, attrs, ...kids) {
		const el = document.createElementNS(SVGNS, tag);
		setAttrs(el, attrs);
		append(el, kids);
		return el;
	}

	function setAttrs(el, attrs) {
		if (!attrs) return;
		for (const k of Object.keys(attrs)) {
			const v = attrs[k];
			if (v === null || v === undefined || v === false) continue;
			if (/^on/i.test(k) || k === 'style' || k === 'srcdoc') throw new Error('refused attribute ' + k);
			if (k === 'hidden' || k === 'disabled' || k === 'required' || k === 'selected' || k === 'checked')
				el[k] = !!v;
			else if (k === 'value')
				el.value = String(v);
			else
				el.setAttribute(k, v === true ? '' : String(v));
		}
	}

	function append(el, kids) {
		for (const k of kids) {
			if (k === null || k === undefined || k === false) continue;
			if (Array.isArray(k)) append(el, k);
			else if (k instanceof Node) el.appendChild(k);
			else el.appendChild(document.createTextNode(String(k)));
		}
	}

	/* Text the guest (or anyone) chose, as text nodes, with control, bidi
	 * and zero-width characters shown as visible <U+XXXX> marks so that
	 * "\u202e" cannot reverse what the operator reads. */
	const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;

	function gt(s) {
		s = String(s);
		const frag = document.createDocumentFragment();
		let last = 0;
		INVISIBLE.lastIndex = 0;
		for (let m; (m = INVISIBLE.exec(s));) {
			if (m.index > last) frag.appendChild(document.createTextNode(s.slice(last, m.index)));
			const cp = m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
			frag.appendChild(h('span.ctl', { title: 'invisible character U+' + cp }, '<U+' + cp + '>'));
			last = m.index + 1;
		}
		if (last < s.length) frag.appendChild(document.createTextNode(s.slice(last)));
		return frag;
	}

	function clear(el) {
		while (el.firstChild) el.removeChild(el.firstChild);
		return el;
	}

	/* Replace el's children with build(data) unless key (default: data) is
	 * the same as last time: keeps <details> open, scroll and hover stable. */
	function patch(el, data, build, key) {
		const k = JSON.stringify(key === undefined ? data : key);
		if (el.twKey === k) return;
		const node = build(data);
		clear(el);
		append(el, [node]);
		el.twKey = k;
	}

	function vmHref(uuid) {
		return '#/vm/' + encodeURIComponent(String(uuid || '').toLowerCase());
	}

	function vmLink(uuid, name, testid) {
		const a = h('a.vm-link', { href: vmHref(uuid), 'data-testid': testid || 'vm-link', title: (name ? name + ' — ' : '') + (uuid || '') });
		if (name) {
			a.appendChild(h('span.vm-name', null, gt(name)));
			a.appendChild(h('span.vm-uuid', null, shortUuid(uuid)));
		} else {
			a.appendChild(h('span.vm-name.mono', null, uuid || '?'));
		}
		return a;
	}

	function shortUuid(u) {
		u = String(u || '');
		return u.length > 8 ? u.slice(0, 8) + '…' : u;
	}

	/* ---- formatting ------------------------------------------------------------------- */

	function serverNow() {
		return Date.now() / 1000 + S.skew;
	}

	function pad(n) {
		return n < 10 ? '0' + n : String(n);
	}

	function fmtTime(ts) {
		if (!ts) return '—';
		const d = new Date(ts * 1000);
		return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
			pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
	}

	function fmtClock(ts) {
		const d = new Date(ts * 1000);
		return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
	}

	function fmtDur(s) {
		s = Math.max(0, Math.round(s));
		if (s < 60) return s + 's';
		if (s < 3600) return Math.floor(s / 60) + 'm ' + pad(s % 60) + 's';
		if (s < 86400) return Math.floor(s / 3600) + 'h ' + pad(Math.floor(s % 3600 / 60)) + 'm';
		return Math.floor(s / 86400) + 'd ' + Math.floor(s % 86400 / 3600) + 'h';
	}

	function fmtRel(ts) {
		if (!ts) return '';
		const d = ts - serverNow();
		if (Math.abs(d) < 2) return 'now';
		return d > 0 ? 'in ' + fmtDur(d) : fmtDur(-d) + ' ago';
	}

	function fmtBytes(n) {
		if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
		if (n < 1024) return n + ' B';
		if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
		return (n / 1048576).toFixed(1) + ' MiB';
	}

	function fmtNum(n) {
		if (n === null || n === undefined || n === '') return '—';
		if (typeof n !== 'number') return String(n);
		if (!Number.isFinite(n)) return String(n);
		if (Number.isInteger(n)) return n.toLocaleString('en-US');
		return n.toLocaleString('en-US', { maximumFractionDigits: 2 });
	}

	/* A time with a live relative part ("3m ago"), kept current by the ticker. */
	function timeCell(ts, compact) {
		if (!ts) return h('span.muted', null, '—');
		if (compact) return h('span.time.compact', { title: fmtTime(ts) + ' (' + new Date(ts * 1000).toISOString() + ')' },
			h('span.abs', null, fmtTime(ts).slice(0, 10)), h('span.rel.muted', { 'data-ts': ts }, fmtRel(ts)));
		return h('span.time', { title: new Date(ts * 1000).toISOString() },
			h('span.abs', null, fmtTime(ts)), ' ',
			h('span.rel.muted', { 'data-ts': ts }, fmtRel(ts)));
	}

	function relOnly(ts) {
		if (!ts) return h('span.muted', null, '—');
		return h('span.rel', { 'data-ts': ts, title: fmtTime(ts) }, fmtRel(ts));
	}

	/* Remaining time until ts, kept current by the ticker. */
	function countdown(until, testid) {
		return h('span.countdown', { 'data-until': until, 'data-testid': testid || 'countdown',
			title: fmtTime(until) }, fmtDur(until - serverNow()));
	}

	function badge(state, testid) {
		const s = String(state || 'unknown');
		const cls = /^[a-z_]+$/.test(s) ? s : 'unknown';
		return h('span.badge.badge-' + cls, { 'data-testid': testid || null }, s);
	}

	function tick() {
		const now = serverNow();
		$('clock').textContent = fmtClock(now);
		for (const el of document.querySelectorAll('.rel[data-ts]'))
			el.textContent = fmtRel(Number(el.getAttribute('data-ts')));
		for (const el of document.querySelectorAll('.countdown[data-until]')) {
			const left = Number(el.getAttribute('data-until')) - now;
			el.textContent = left > 0 ? fmtDur(left) : 'expired';
			el.classList.toggle('soon', left < 300);
		}
	}

	/* ---- messages ---------------------------------------------------------------------- */

	let msgTimer = null;

	function showMsg(text, kind) {
		const box = $('msg');
		$('msg-text').textContent = text;
		box.classList.toggle('msg-ok', kind === 'ok');
		box.classList.toggle('msg-error', kind !== 'ok');
		box.hidden = false;
		clearTimeout(msgTimer);
		if (kind === 'ok') msgTimer = setTimeout(hideMsg, 6000);
	}

	function hideMsg() {
		$('msg').hidden = true;
	}

	function setRefreshState(ok, text) {
		const el = $('refresh-state');
		el.textContent = text;
		el.classList.toggle('stale', !ok);
	}

	/* ---- API ---------------------------------------------------------------------------- */

	class ApiError extends Error {
		constructor(status, message) {
			super(message);
			this.status = status;
		}
	}

	function noteDate(res) {
		const d = res.headers.get('Date');
		if (d) {
			const t = Date.parse(d);
			if (!Number.isNaN(t)) S.skew = (t - Date.now()) / 1000;
		}
	}

	/* fetch with the bearer token: the Response when 2xx, else its ApiError
	 * (a 401 signs out). */
	async function send(method, path, body) {
		if (!S.token) throw new ApiError(401, 'not signed in');
		const opt = { method, headers: { Authorization: 'Bearer ' + S.token, 'Content-Type': 'application/json' },
			cache: 'no-store', credentials: 'omit' };
		if (body !== undefined) opt.body = JSON.stringify(body);
		let res;
		try {
			res = await fetch(path, opt);
		} catch (e) {
			throw new ApiError(0, 'controller unreachable (' + (e && e.message ? e.message : e) + ')');
		}
		noteDate(res);
		if (res.ok) return res;
		const j = parseJson(await res.text());
		if (res.status === 401) {
			const m = j && typeof j.error === 'string' ? j.error : 'token refused';
			logout((S.me ? 'Signed out: the controller refused the token' : 'The controller refused this token') +
				' (401: ' + m + ').');
			throw new ApiError(401, m);
		}
		const m = j && typeof j.error === 'string' ? j.error : (res.statusText || 'request failed');
		throw new ApiError(res.status, method + ' ' + path.split('?')[0] + ': ' + res.status + ' ' + m);
	}

	function parseJson(text) {
		try {
			return text ? JSON.parse(text) : null;
		} catch (e) {
			return null;
		}
	}

	async function api(method, path, body) {
		const res = await send(method, path, body);
		const text = await res.text();
		const j = parseJson(text);
		if (j === null && text) throw new ApiError(res.status, method + ' ' + path + ': not JSON');
		if (j && typeof j.generated === 'number') S.skew = j.generated - Date.now() / 1000;
		return j;
	}

	/* GET: null for a 404 (the page shows its own "no such ..."). */
	async function apiFound(path) {
		try {
			return await api('GET', path);
		} catch (e) {
			if (e.status === 404) return null;
			throw e;
		}
	}

	/* GET a file (bytes, not JSON) as a Blob. */
	async function apiBlob(path) {
		return (await send('GET', path)).blob();
	}

	function qs(params) {
		const p = [];
		for (const k of Object.keys(params)) {
			const v = params[k];
			if (v === undefined || v === null || v === '') continue;
			p.push(encodeURIComponent(k) + '=' + encodeURIComponent(String(v)));
		}
		return p.length ? '?' + p.join('&') : '';
	}

	function canWrite() {
		return !!S.me && (S.me.role === 'support' || S.me.role === 'admin');
	}

	/* ---- session ------------------------------------------------------------------------ */

	function showLogin(message) {
		$('view').hidden = true;
		$('nav').hidden = true;
		$('whoami').hidden = true;
		$('logout').hidden = true;
		$('feed-state').hidden = true;
		$('refresh-state').textContent = '';
		$('login').hidden = false;
		const err = $('login-error');
		err.textContent = message || '';
		err.hidden = !message;
		const inp = $('login-token');
		inp.value = '';
		inp.focus();
	}

	function logout(message) {
		stopView();
		feedStop();
		closeDialog();
		S.token = null;
		S.me = null;
		S.events = [];
		try {
			sessionStorage.removeItem(TOKEN_KEY);
		} catch (e) { /* storage disabled */ }
		hideMsg();
		showLogin(message);
	}

	async function login(token) {
		S.token = token;
		let me;
		try {
			me = await api('GET', '/v1/whoami');
		} catch (e) {
			if (e.status !== 401) {
				S.token = null;
				showLogin(e.message);
			}
			return false;
		}
		if (!me || typeof me.name !== 'string' || typeof me.role !== 'string') {
			S.token = null;
			showLogin('unexpected answer from /v1/whoami');
			return false;
		}
		S.me = { name: me.name, role: me.role };
		try {
			sessionStorage.setItem(TOKEN_KEY, token);
		} catch (e) { /* storage disabled: keep it in memory */ }
		const who = $('whoami');
		clear(who);
		append(who, [h('span.who-name', { 'data-testid': 'whoami-name' }, me.name), ' ',
			badge(me.role, 'whoami-role')]);
		who.hidden = false;
		$('logout').hidden = false;
		$('nav').hidden = false;
		$('login').hidden = true;
		$('view').hidden = false;
		$('feed-state').hidden = false;
		feedStart();
		route();
		return true;
	}

	/* ---- the event feed (SSE over fetch) ----------------------------------------------- */

	function feedState(cls, text) {
		const el = $('feed-state');
		el.classList.remove('feed-live', 'feed-off', 'feed-wait');
		el.classList.add(cls);
		el.textContent = text;
	}

	function feedStart() {
		feedStop();
		const f = { stopped: false, ctrl: null, lastId: '', retryMs: 3000, backoff: 1000, timer: null };
		S.feed = f;
		feedConnect(f);
	}

	function feedStop() {
		const f = S.feed;
		if (!f) return;
		f.stopped = true;
		clearTimeout(f.timer);
		if (f.ctrl) f.ctrl.abort();
		S.feed = null;
	}

	async function feedConnect(f) {
		if (f.stopped || !S.token) return;
		feedState('feed-wait', 'connecting…');
		f.ctrl = new AbortController();
		const headers = { Authorization: 'Bearer ' + S.token, Accept: 'text/event-stream' };
		if (f.lastId) headers['Last-Event-ID'] = f.lastId;
		let res;
		try {
			res = await fetch('/v1/events', { headers, cache: 'no-store', credentials: 'omit', signal: f.ctrl.signal });
		} catch (e) {
			return feedRetry(f, 'unreachable');
		}
		if (f.stopped) return;
		if (res.status === 401) {
			logout('Signed out: the controller refused the token (401) on the event feed.');
			return;
		}
		if (!res.ok || !res.body) {
			try { await res.text(); } catch (e) { /* ignore */ }
			return feedRetry(f, 'HTTP ' + res.status);
		}
		feedState('feed-live', 'live');
		f.backoff = 1000;
		const reader = res.body.getReader();
		const dec = new TextDecoder('utf-8');
		const p = { buf: '', data: [], type: '', id: null, sawCR: false };
		try {
			for (;;) {
				const { value, done } = await reader.read();
				if (done) break;
				sseFeed(f, p, dec.decode(value, { stream: true }));
			}
			sseFeed(f, p, dec.decode());
		} catch (e) {
			if (f.stopped) return;
		}
		if (!f.stopped) feedRetry(f, 'closed');
	}

	function feedRetry(f, why) {
		if (f.stopped) return;
		const wait = Math.max(f.backoff, Math.min(f.retryMs, 30000));
		f.backoff = Math.min(f.backoff * 2, 30000);
		feedState('feed-off', 'disconnected (' + why + '), retry in ' + Math.round(wait / 1000) + 's');
		f.timer = setTimeout(() => feedConnect(f), wait);
	}

	/* The SSE wire format (HTML Living Standard, "event stream interpretation"):
	 * lines end in CRLF, LF or CR; "field: value" (one optional space after
	 * the colon); a line beginning with ':' is a comment; a blank line
	 * dispatches the event. */
	function sseFeed(f, p, chunk) {
		let s = p.buf + chunk;
		if (p.sawCR && s.startsWith('\n')) s = s.slice(1);
		p.sawCR = false;
		let start = 0;
		for (let i = 0; i < s.length; i++) {
			const c = s.charCodeAt(i);
			if (c !== 10 && c !== 13) continue;
			sseLine(f, p, s.slice(start, i));
			if (c === 13) {
				if (i + 1 < s.length) {
					if (s.charCodeAt(i + 1) === 10) i++;
				} else {
					p.sawCR = true;
				}
			}
			start = i + 1;
		}
		p.buf = s.slice(start);
	}

	function sseLine(f, p, line) {
		if (line === '') {
			if (p.id !== null) f.lastId = p.id;
			p.id = null;
			if (p.data.length) onFeedEvent(p.type || 'message', p.data.join('\n'), f.lastId);
			p.data = [];
			p.type = '';
			return;
		}
		if (line.charCodeAt(0) === 58) return; /* ':' comment (keepalive) */
		const colon = line.indexOf(':');
		let field = line, value = '';
		if (colon >= 0) {
			field = line.slice(0, colon);
			value = line.slice(colon + 1);
			if (value.charCodeAt(0) === 32) value = value.slice(1);
		}
		if (field === 'data') p.data.push(value);
		else if (field === 'event') p.type = value;
		else if (field === 'id') { if (value.indexOf('\0') < 0) p.id = value; }
		else if (field === 'retry') { if (/^\d+$/.test(value)) f.retryMs = Number(value); }
	}

	function onFeedEvent(type, data, id) {
		let ev;
		try {
			ev = JSON.parse(data);
		} catch (e) {
			return;
		}
		if (!ev || typeof ev !== 'object') return;
		if (!ev.type) ev.type = type;
		if (!ev.id) ev.id = id;
		if (S.events.length && S.events.some((x) => x.id === ev.id)) return;
		S.events.push(ev);
		if (S.events.length > FEED_KEEP) S.events.splice(0, S.events.length - FEED_KEEP);
		for (const fn of S.eventListeners) {
			try {
				fn(ev);
			} catch (e) {
				console.warn(e);
			}
		}
	}

	/* ---- routing ------------------------------------------------------------------------ */

	function parseHash() {
		let hs = location.hash.replace(/^#/, '');
		if (!hs.startsWith('/')) hs = '/' + hs;
		const qi = hs.indexOf('?');
		const path = qi >= 0 ? hs.slice(0, qi) : hs;
		const params = new URLSearchParams(qi >= 0 ? hs.slice(qi + 1) : '');
		const segs = path.split('/').filter(Boolean).map((x) => {
			try {
				return decodeURIComponent(x);
			} catch (e) {
				return x;
			}
		});
		return { segs, params };
	}

	function stopView() {
		for (const t of S.timers) clearInterval(t);
		S.timers = [];
		S.eventListeners.clear();
		if (S.view && S.view.stop) S.view.stop();
		S.view = null;
	}

	function route() {
		if (!S.me) return;
		stopView();
		const { segs, params } = parseHash();
		const v = $('view');
		clear(v);
		delete v.twKey;
		let name = 'overview';
		if (segs[0] === 'events') name = 'events';
		else if (segs[0] === 'vms') name = 'vms';
		else if (segs[0] === 'vm') name = 'vm';
		else if (segs[0] === 'whitelist') name = 'whitelist';
		else if (segs[0] === 'requests' && segs[1] === 'new') name = 'request-new';
		else if (segs[0] === 'requests' && segs[1]) name = 'request';
		else if (segs[0] === 'requests') name = 'requests';
		else if (segs.length) name = 'notfound';
		for (const a of document.querySelectorAll('#nav a'))
			a.classList.toggle('active', a.getAttribute('data-route') === name ||
				(name === 'vm' && a.getAttribute('data-route') === 'vms') ||
				(name.startsWith('request') && a.getAttribute('data-route') === 'requests'));
		v.setAttribute('data-view', name);
		window.scrollTo(0, 0);
		if (name === 'overview') viewOverview(v);
		else if (name === 'events') viewEvents(v, params);
		else if (name === 'vms') viewVms(v, params);
		else if (name === 'vm') viewVm(v, segs[1] || '');
		else if (name === 'whitelist') viewWhitelist(v, params);
		else if (name === 'requests') viewRequests(v, params);
		else if (name === 'request-new') viewRequestNew(v, params);
		else if (name === 'request') viewRequest(v, segs[1]);
		else append(v, [h('section.card', null, h('h2', null, 'No such page'),
			h('p', null, h('a', { href: '#/' }, 'Back to the overview')))]);
	}

	/* Start a view: run load() now, every REFRESH_MS, and (debounced) after
	 * feed events when onEvent is set. */
	function startView(name, load, opts) {
		const view = { name, busy: false, again: false, stopped: false };
		const run = async () => {
			if (view.stopped) return;
			if (view.busy) {
				view.again = true;
				return;
			}
			view.busy = true;
			try {
				await load();
				setRefreshState(true, 'updated ' + fmtClock(serverNow()));
			} catch (e) {
				if (!(e instanceof ApiError)) console.error('dashboard bug:', e);
				if (!view.stopped && e.status !== 401) setRefreshState(false, 'refresh failed: ' + e.message);
			} finally {
				view.busy = false;
				if (view.again && !view.stopped) {
					view.again = false;
					run();
				}
			}
		};
		view.refresh = run;
		view.stop = () => {
			view.stopped = true;
			clearTimeout(view.debounce);
		};
		S.view = view;
		S.timers.push(setInterval(run, (opts && opts.every) || REFRESH_MS));
		if (!opts || opts.onEvent !== false) {
			S.eventListeners.add(() => {
				clearTimeout(view.debounce);
				view.debounce = setTimeout(run, 700);
			});
		}
		run();
		return view;
	}

	/* ---- generic table -------------------------------------------------------------------- */

	/* cols: [{t: 'header', f: (row) => node|string, cls: 'num'}]; rowAttrs(row):
	 * more attributes for the row's <tr> (optional) */
	function table(cols, rows, testid, empty, rowAttrs) {
		const t = h('table.grid', { 'data-testid': testid || null });
		const tr = h('tr');
		for (const c of cols) tr.appendChild(h('th' + (c.cls ? '.' + c.cls : ''), { scope: 'col' }, c.t));
		t.appendChild(h('thead', null, tr));
		const tb = h('tbody');
		if (!rows.length) {
			tb.appendChild(h('tr.empty', null, h('td', { colspan: cols.length }, empty || 'nothing')));
		}
		for (const r of rows) {
			const row = h('tr', Object.assign({ 'data-uuid': r && r.uuid ? r.uuid : null }, rowAttrs ? rowAttrs(r) : null));
			for (const c of cols) row.appendChild(h('td' + (c.cls ? '.' + c.cls : ''), null, c.f(r)));
			tb.appendChild(row);
		}
		t.appendChild(tb);
		return h('div.table-wrap', null, t);
	}

	function option(val, label, cur) {
		return h('option', { value: val, selected: val === cur }, label);
	}

	function section(title, testid, extra) {
		const body = h('div.card-body');
		const head = h('div.card-head', null, h('h2', null, title), extra || null);
		const el = h('section.card', { 'data-testid': testid ? testid + '-card' : null }, head, body);
		return { el, body, head };
	}

	/* A bar proportional to v/max, drawn in SVG (no style attributes). */
	function bar(v, max, cls) {
		const w = max > 0 ? Math.max(0, Math.min(100, (v / max) * 100)) : 0;
		return svg('svg', { class: 'bar ' + (cls || ''), viewBox: '0 0 100 6', preserveAspectRatio: 'none',
			'aria-hidden': 'true' }, svg('rect', { class: 'bar-bg', x: 0, y: 0, width: 100, height: 6 }),
		svg('rect', { class: 'bar-fg', x: 0, y: 0, width: w.toFixed(2), height: 6 }));
	}

	/* ---- overview --------------------------------------------------------------------------- */

	function viewOverview(v) {
		const tiles = h('div.tiles', { 'data-testid': 'status' });
		const tile = (id, label) => {
			const num = h('div.num', { 'data-testid': 'stat-' + id }, '–');
			const sub = h('div.sub', { 'data-testid': 'stat-' + id + '-sub' });
			const el = h('div.tile', { 'data-tile': id }, h('div.label', null, label), num, sub);
			tiles.appendChild(el);
			return { el, num, sub };
		};
		const T = {
			agents: tile('agents', 'Agents up'),
			vms: tile('vms', 'VMs known'),
			blocked: tile('blocked', 'Blocked'),
			alerting: tile('alerting', 'Alerting'),
			whitelist: tile('whitelist', 'Whitelisted'),
			pending: tile('pending', 'Pending decisions'),
		};
		const blocked = section('Blocked now', 'blocked');
		const alerts = section('Alerts', 'alerts');
		const agents = section('Agents', 'agents');
		const topMsg = section('Top senders by messages (1 h)', 'top-messages');
		const topRej = section('Top senders by rejections (1 h)', 'top-rejected');
		const recent = section('Recent events', 'recent', h('a.more', { href: '#/events' }, 'all events →'));
		append(v, [tiles, h('div.grid-overview', null, blocked.el, alerts.el, agents.el, topMsg.el, topRej.el,
			recent.el)]);

		const renderRecent = () => patch(recent.body, S.events.slice(-10).map((e) => e.id), () =>
			eventList(S.events.slice(-10).reverse(), 'recent-events', true));
		renderRecent();
		S.eventListeners.add(renderRecent);

		startView('overview', async () => {
			const [st, bl, al, tm, tr, ag] = await Promise.all([
				api('GET', '/v1/status'),
				api('GET', '/v1/blocks'),
				api('GET', '/v1/vms' + qs({ state: 'alert', sort: 'last_seen', limit: 20 })),
				api('GET', '/v1/vms' + qs({ sort: 'messages_1h', limit: 10 })),
				api('GET', '/v1/vms' + qs({ sort: 'rejected_1h', limit: 10 })),
				api('GET', '/v1/agents'),
			]);
			const setTile = (t, n, sub, warn) => {
				t.num.textContent = fmtNum(n);
				t.sub.textContent = sub || '';
				t.el.classList.toggle('warn', !!warn);
			};
			const a = st.agents || {}, vm = st.vms || {};
			setTile(T.agents, a.up, 'of ' + fmtNum(a.total), a.up !== a.total);
			setTile(T.vms, vm.known, st.controller ? 'controller ' + st.controller : '');
			setTile(T.blocked, vm.blocked, '', vm.blocked > 0);
			setTile(T.alerting, vm.alerting, '', vm.alerting > 0);
			setTile(T.whitelist, st.whitelist, 'entries');
			setTile(T.pending, st.pending_decisions, 'not yet applied by an agent', st.pending_decisions > 0);

			const blocks = bl.blocks || [];
			patch(blocked.body, blocks.map((b) => [b.uuid, b.until, b.reason, b.pending_agents, b.name]), () =>
				table([
					{ t: 'VM', f: (b) => vmLink(b.uuid, b.name) },
					{ t: 'Hypervisor', f: (b) => b.hypervisor || '—' },
					{ t: 'Reason', f: (b) => h('span.reason-cell', null, badge(b.origin), h('span.reason', null, gt(b.reason || ''))) },
					{ t: 'Expires in', cls: 'num', f: (b) => h('span', null, countdown(b.until),
						b.pending_agents && b.pending_agents.length ? h('span.pending-line.warn-text',
							{ title: 'agents that have not applied the block yet' },
							'pending: ' + b.pending_agents.join(', ')) : null) },
				], blocks, 'blocked-table', 'no VM is blocked'));
			blocked.head.querySelector('h2').textContent = 'Blocked now (' + blocks.length + ')';

			const avms = al.vms || [];
			patch(alerts.body, avms.map((x) => [x.uuid, x.name, x.alert_since, x.messages_1h, x.rejected_1h]), () =>
				table([
					{ t: 'VM', f: (x) => vmLink(x.uuid, x.name) },
					{ t: 'Hypervisor', f: (x) => x.hypervisor || '—' },
					{ t: 'Since', f: (x) => relOnly(x.alert_since) },
					{ t: 'Msgs 1h', cls: 'num', f: (x) => fmtNum(x.messages_1h) },
					{ t: 'Rej 1h', cls: 'num', f: (x) => fmtNum(x.rejected_1h) },
				], avms, 'alerts-table', 'no alerts'));
			alerts.head.querySelector('h2').textContent = 'Alerts (' + fmtNum(al.total || avms.length) + ')';

			const top = (body, res, key, testid, rcpts) => {
				const rows = (res.vms || []).filter((x) => x[key] > 0);
				const max = rows.length ? rows[0][key] : 0;
				patch(body, rows.map((x) => [x.uuid, x.name, x.state, x.messages_1h, x.rcpts_1h, x.rejected_1h]),
					() => table([
						{ t: 'VM', f: (x) => vmLink(x.uuid, x.name) },
						{ t: 'State', f: (x) => badge(x.state) },
						{ t: 'Msgs 1h', cls: 'num', f: (x) => fmtNum(x.messages_1h) },
						rcpts ? { t: 'Rcpts 1h', cls: 'num', f: (x) => fmtNum(x.rcpts_1h) } : null,
						{ t: 'Rej 1h', cls: 'num', f: (x) => fmtNum(x.rejected_1h) },
						{ t: '', cls: 'barcell', f: (x) => bar(x[key], max, key) },
					].filter(Boolean), rows, testid, 'no mail in the last hour'));
			};
			top(topMsg.body, tm, 'messages_1h', 'top-messages-table', true);
			top(topRej.body, tr, 'rejected_1h', 'top-rejected-table');

			const agl = ag.agents || [];
			patch(agents.body, agl.map((x) => [x.id, x.up, x.version, x.pending, x.reports_pending, x.spool_pending,
				x.last_heartbeat, x.health]), () => table([
				{ t: 'Agent', f: (x) => h('span.mono', null, x.id) },
				{ t: 'State', f: (x) => badge(x.up ? 'up' : 'down') },
				{ t: 'Heartbeat', f: (x) => relOnly(x.last_heartbeat) },
				{ t: 'Version', f: (x) => x.version || '—' },
				{ t: 'Cmds', cls: 'num', f: (x) => warnNum(x.pending) },
				{ t: 'Reports', cls: 'num', f: (x) => warnNum(x.reports_pending) },
				{ t: 'Spool', cls: 'num', f: (x) => warnNum(x.spool_pending) },
				{ t: 'Health', f: (x) => healthText(x.health) },
			], agl, 'agents-table', 'no agents'));
		});
	}

	function warnNum(n) {
		return h('span' + (n > 0 ? '.warn-text' : ''), null, fmtNum(n));
	}

	function healthText(hl) {
		if (!hl || typeof hl !== 'object') return h('span.muted', null, '—');
		const lines = [];
		for (const k of Object.keys(hl).slice(0, 6)) {
			const v = hl[k];
			let s = k + '=' + (v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v));
			if (s.length > 40) s = s.slice(0, 39) + '…';
			lines.push(h('span.health.mono', null, s));
		}
		return h('span', { title: JSON.stringify(hl) }, lines);
	}

	/* ---- events ----------------------------------------------------------------------------- */

	function eventItem(e, compact) {
		return h('li.event.ev-' + (/^[a-z_]+$/.test(String(e.type)) ? e.type : 'other'),
			{ 'data-testid': 'event', 'data-type': String(e.type || '') },
			h('span.ev-time', { title: e.ts ? fmtTime(e.ts) : '' }, e.ts ? fmtClock(e.ts) : '—'),
			badge(e.type),
			e.vm ? vmLink(e.vm, e.name) : h('span.muted', null, '—'),
			h('span.ev-actor', null, e.actor || '', e.operator ? ' (' + e.operator + ')' : ''),
			compact ? null : h('span.ev-reason', null, gt(e.reason || '')),
			compact && e.reason ? h('span.ev-reason', null, gt(e.reason)) : null);
	}

	function eventList(evs, testid, compact) {
		if (!evs.length) return h('p.muted', { 'data-testid': testid + '-empty' }, 'no events yet');
		const ul = h('ul.events' + (compact ? '.compact' : ''), { 'data-testid': testid });
		for (const e of evs) ul.appendChild(eventItem(e, compact));
		return ul;
	}

	function viewEvents(v, params) {
		const sel = h('select', { id: 'ev-type', 'data-testid': 'events-filter' });
		const types = new Set(EVENT_TYPES);
		for (const e of S.events) if (e.type) types.add(String(e.type));
		sel.appendChild(h('option', { value: '' }, 'all types'));
		for (const t of [...types].sort()) sel.appendChild(h('option', { value: t }, t));
		const want = params.get('type') || '';
		sel.value = types.has(want) ? want : '';
		const text = h('input', { id: 'ev-q', type: 'search', placeholder: 'VM, actor or reason', 'data-testid': 'events-q' });
		const count = h('span.muted', { 'data-testid': 'events-count' });
		const list = h('div.events-body');
		const c = section('Events', 'events', h('div.filters', null,
			h('label', { for: 'ev-type' }, 'Type'), sel, h('label', { for: 'ev-q' }, 'Search'), text, count));
		c.body.appendChild(list);
		append(v, [c.el]);

		const match = (e) => {
			if (sel.value && e.type !== sel.value) return false;
			const q = text.value.trim().toLowerCase();
			if (!q) return true;
			return [e.vm, e.name, e.actor, e.operator, e.reason].some((x) => String(x || '').toLowerCase().includes(q));
		};
		const render = () => {
			const evs = S.events.filter(match).slice(-FEED_SHOW).reverse();
			clear(list);
			list.appendChild(eventList(evs, 'events-list', false));
			count.textContent = evs.length + ' of ' + S.events.length + ' held';
		};
		sel.addEventListener('change', render);
		text.addEventListener('input', render);
		render();
		S.eventListeners.add((e) => {
			const ul = list.querySelector('ul.events');
			if (!ul || !match(e)) return render();
			ul.insertBefore(eventItem(e, false), ul.firstChild);
			while (ul.children.length > FEED_SHOW) ul.removeChild(ul.lastChild);
			count.textContent = Math.min(ul.children.length, FEED_SHOW) + ' of ' + S.events.length + ' held';
		});
		S.view = { name: 'events' };
		setRefreshState(true, '');
	}

	/* ---- VM list ---------------------------------------------------------------------------- */

	const VM_SORTS = [['last_seen', 'last seen'], ['messages_1h', 'messages (1 h)'], ['rejected_1h', 'rejections (1 h)'],
		['rcpts_1h', 'recipients (1 h)'], ['messages', 'messages (total)'], ['rejected', 'rejections (total)'],
		['first_seen', 'first seen'], ['name', 'name'], ['offences', 'offences'], ['block_until', 'block expiry']];

	function viewVms(v, params) {
		const P = {
			state: params.get('state') || 'any',
			hypervisor: params.get('hypervisor') || '',
			q: params.get('q') || '',
			sort: params.get('sort') || 'last_seen',
			order: params.get('order') || '',
			limit: Number(params.get('limit')) || 50,
			offset: Number(params.get('offset')) || 0,
		};
		const fState = h('select', { id: 'f-state', 'data-testid': 'vms-state' },
			['any', 'ok', 'alert', 'blocked', 'whitelisted'].map((s) => option(s, s, P.state)));
		const fHv = h('input', { id: 'f-hv', type: 'text', value: P.hypervisor, placeholder: 'all', size: 8,
			'data-testid': 'vms-hypervisor', maxlength: 64 });
		const fQ = h('input', { id: 'f-q', type: 'search', value: P.q, placeholder: 'name or UUID', maxlength: 64,
			'data-testid': 'vms-q' });
		const fSort = h('select', { id: 'f-sort', 'data-testid': 'vms-sort' }, VM_SORTS.map((s) => option(s[0], s[1], P.sort)));
		const fOrder = h('select', { id: 'f-order', 'data-testid': 'vms-order' }, option('', 'default', P.order),
			option('desc', 'descending', P.order), option('asc', 'ascending', P.order));
		const fLimit = h('select', { id: 'f-limit', 'data-testid': 'vms-limit' },
			[25, 50, 100, 250, 1000].map((n) => option(String(n), String(n), String(P.limit))));
		const apply = (patchP) => {
			const n = Object.assign({}, P, {
				state: fState.value, hypervisor: fHv.value.trim(), q: fQ.value.trim(), sort: fSort.value,
				order: fOrder.value, limit: Number(fLimit.value), offset: 0,
			}, patchP || {});
			const p = {};
			if (n.state !== 'any') p.state = n.state;
			for (const k of ['hypervisor', 'q', 'order']) if (n[k]) p[k] = n[k];
			if (n.sort !== 'last_seen') p.sort = n.sort;
			if (n.limit !== 50) p.limit = n.limit;
			if (n.offset) p.offset = n.offset;
			location.hash = '#/vms' + qs(p);
		};
		const form = h('form.filters', { 'data-testid': 'vms-filters', novalidate: true },
			h('label', { for: 'f-state' }, 'State'), fState,
			h('label', { for: 'f-hv' }, 'Hypervisor'), fHv,
			h('label', { for: 'f-q' }, 'Search'), fQ,
			h('label', { for: 'f-sort' }, 'Sort'), fSort, fOrder,
			h('label', { for: 'f-limit' }, 'Per page'), fLimit,
			h('button.primary', { type: 'submit', 'data-testid': 'vms-apply' }, 'Apply'));
		form.addEventListener('submit', (e) => {
			e.preventDefault();
			apply();
		});
		for (const s of [fState, fSort, fOrder, fLimit]) s.addEventListener('change', () => apply());
		const c = section('Virtual machines', 'vms');
		const pager = h('div.pager');
		const body = h('div');
		c.body.appendChild(form);
		c.body.appendChild(body);
		c.body.appendChild(pager);
		append(v, [c.el]);

		startView('vms', async () => {
			const q = { sort: P.sort, limit: P.limit, offset: P.offset };
			if (P.state !== 'any') q.state = P.state;
			if (P.hypervisor) q.hypervisor = P.hypervisor;
			if (P.q) q.q = P.q;
			if (P.order) q.order = P.order;
			const r = await api('GET', '/v1/vms' + qs(q));
			const rows = r.vms || [];
			patch(body, rows.map((x) => [x.uuid, x.name, x.state, x.hypervisor, x.last_seen, x.first_seen, x.offences,
				x.whitelisted, x.block, x.messages_1h, x.rcpts_1h, x.rejected_1h, x.totals]), () => table([
				{ t: 'VM', f: (x) => vmLink(x.uuid, x.name) },
				{ t: 'State', f: (x) => h('span', null, badge(x.state), x.whitelisted ? [' ', badge('whitelisted')] : null) },
				{ t: 'Hypervisor', f: (x) => x.hypervisor || '—' },
				{ t: 'Msgs 1h', cls: 'num', f: (x) => fmtNum(x.messages_1h) },
				{ t: 'Rcpts 1h', cls: 'num', f: (x) => fmtNum(x.rcpts_1h) },
				{ t: 'Rej 1h', cls: 'num', f: (x) => fmtNum(x.rejected_1h) },
				{ t: 'Msgs total', cls: 'num', f: (x) => fmtNum(x.totals ? x.totals.messages : null) },
				{ t: 'Offences', cls: 'num', f: (x) => fmtNum(x.offences) },
				{ t: 'Block expires', f: (x) => (x.block ? countdown(x.block.until) : h('span.muted', null, '—')) },
				{ t: 'Last seen', f: (x) => relOnly(x.last_seen) },
			], rows, 'vms-table', 'no VM matches'));
			const total = r.total || 0;
			const from = total ? r.offset + 1 : 0, to = r.offset + rows.length;
			clear(pager);
			const prev = h('button.ghost', { type: 'button', 'data-testid': 'page-prev', disabled: r.offset <= 0 }, '← previous');
			const next = h('button.ghost', { type: 'button', 'data-testid': 'page-next', disabled: to >= total }, 'next →');
			prev.addEventListener('click', () => apply({ offset: Math.max(0, r.offset - P.limit) }));
			next.addEventListener('click', () => apply({ offset: r.offset + P.limit }));
			append(pager, [prev, h('span.muted', { 'data-testid': 'vms-range' },
				fmtNum(from) + '–' + fmtNum(to) + ' of ' + fmtNum(total)), next]);
		});
	}

	/* ---- VM page ------------------------------------------------------------------------------ */

	function kv(pairs, testid) {
		const dl = h('dl.kv', { 'data-testid': testid || null });
		for (const [k, val] of pairs) {
			if (val === undefined) continue;
			dl.appendChild(h('dt', null, k));
			dl.appendChild(h('dd', null, val === null ? h('span.muted', null, '—') : val));
		}
		return dl;
	}

	function badIdCard(title, raw) {
		return h('section.card', null, h('h2', null, title), h('p.mono', null, String(raw)));
	}

	function viewVm(v, uuidRaw) {
		const uuid = String(uuidRaw).toLowerCase();
		if (!UUID_RE.test(uuid)) {
			append(v, [badIdCard('Not a VM UUID', uuidRaw)]);
			return;
		}
		const head = h('section.card.vm-head', { 'data-testid': 'vm-head' });
		const actions = h('div.actions', { 'data-testid': 'vm-actions' });
		const blockBox = section('Block', 'vm-block');
		const charts = section('Last hour (10 s samples)', 'vm-charts');
		const evid = section('Evidence', 'evidence');
		const hist = section('Block history', 'history');
		const wlBox = section('Whitelist', 'vm-whitelist');
		append(v, [head, h('div.grid-vm', null, blockBox.el, wlBox.el), charts.el, evid.el, hist.el]);
		let cur = null;

		const view = startView('vm', async () => {
			const d = await apiFound('/v1/vms/' + encodeURIComponent(uuid));
			if (!d) {
				patch(head, 'missing', () => h('div', null, h('h1', null, 'Unknown VM'),
					h('p.mono', null, uuid), h('p.muted', null, 'The controller never heard of this VM.')));
				return;
			}
			cur = d;
			const b = d.block;
			patch(head, [d.name, d.uuid, d.state, d.hypervisor, d.first_seen, d.last_seen, d.offences, d.last_offence,
				!!d.whitelist, d.totals], () => h('div', null,
				h('div.vm-title', null, h('h1', { 'data-testid': 'vm-name' }, d.name ? gt(d.name) : '(no name)'),
					badge(d.state, 'vm-state'), d.whitelist ? badge('whitelisted', 'vm-whitelisted') : null),
				h('p.mono.muted', { 'data-testid': 'vm-uuid' }, d.uuid),
				kv([
					['Hypervisor', d.hypervisor || null],
					['First seen', timeCell(d.first_seen)],
					['Last seen', timeCell(d.last_seen)],
					['Offences', h('span', null, fmtNum(d.offences),
						d.last_offence ? [' · last ', relOnly(d.last_offence)] : null)],
					['Whitelist', d.whitelist ? h('span', null, 'yes', d.whitelist.limits ? ' (thresholds ×' +
						fmtNum(d.whitelist.limits.scale) + ')' : ' (full exemption)') : 'no'],
					['Totals', totalsText(d.totals)],
				], 'vm-facts')));
			if (!head.contains(actions)) head.appendChild(actions);
			patch(actions, [canWrite(), !!b, !!d.whitelist], () => vmActions(d, view));

			patch(blockBox.body, b ? [b.until, b.origin, b.reason, b.actor, b.decision, b.created, b.pending_agents,
				b.hypervisor] : null, () => (b ? kv([
				['Expires in', h('span.big', null, countdown(b.until, 'block-countdown'))],
				['Until', timeCell(b.until)],
				['Origin', badge(b.origin)],
				['Reason', h('span.reason', { 'data-testid': 'block-reason' }, b.reason || '')],
				['By', b.actor || null],
				['Since', timeCell(b.created)],
				['Decision', b.decision ? h('span.mono', null, b.decision) : null],
				['Pending agents', b.pending_agents && b.pending_agents.length ?
					h('span.warn-text', { 'data-testid': 'block-pending' }, b.pending_agents.join(', ')) :
					h('span.muted', null, 'none (applied everywhere)')],
			], 'block') : h('p.muted', { 'data-testid': 'block' }, 'Not blocked.')));

			const w = d.whitelist;
			patch(wlBox.body, w, () => (w ? kv([
				['Customer', w.customer || null], ['Ticket', w.ticket || null], ['Approver', w.approver || null],
				['Operator', w.operator || null], ['Reason', w.reason || null], ['Created', timeCell(w.created)],
				['Expires', w.expires ? timeCell(w.expires) : 'never'], ['Limits', limitsText(w.limits)],
			], 'vm-whitelist-entry') : h('p.muted', null, 'Not whitelisted.', canWrite() ? [' ',
				h('a', { href: '#/requests/new' + qs({ uuid: d.uuid }), 'data-testid': 'vm-request-link' },
					'File a whitelist request with evidence →')] : null)));

			const series = Array.isArray(d.series) ? d.series : [];
			const cw = charts.body.clientWidth;
			patch(charts.body, series.length ? [series[0].ts, series.length, cw] : null, () => vmCharts(series, cw));
			const ev = Array.isArray(d.evidence) ? d.evidence : [];
			evid.head.querySelector('h2').textContent = 'Evidence (' + ev.length + ')';
			patch(evid.body, ev, () => evidenceList(ev));
			const hi = Array.isArray(d.history) ? d.history : [];
			patch(hist.body, hi, () => table([
				{ t: 'When', f: (x) => timeCell(x.ts) },
				{ t: 'Event', f: (x) => badge(x.event) },
				{ t: 'Actor', f: (x) => h('span', null, x.actor || '', x.operator ? ' (' + x.operator + ')' : '') },
				{ t: 'Reason', f: (x) => h('span.reason', null, gt(x.reason || '')) },
				{ t: 'Duration', f: (x) => (x.duration_s ? fmtDur(x.duration_s) : h('span.muted', null, '—')) },
				{ t: 'Details', f: (x) => extraFields(x, ['ts', 'event', 'actor', 'operator', 'reason', 'duration_s']) },
			], hi, 'history-table', 'no history'));
		});
		view.current = () => cur;
	}

	function totalsText(t) {
		if (!t || typeof t !== 'object') return null;
		return h('span.mono.small', null, Object.keys(t).map((k) => k + ' ' + fmtNum(t[k])).join(' · '));
	}

	function limitsText(l) {
		if (l === null || l === undefined) return 'full exemption';
		if (typeof l === 'object' && typeof l.scale === 'number') return 'thresholds ×' + fmtNum(l.scale);
		return h('span.mono', null, JSON.stringify(l));
	}

	function extraFields(o, known) {
		const rest = {};
		let any = false;
		for (const k of Object.keys(o || {}))
			if (!known.includes(k)) {
				rest[k] = o[k];
				any = true;
			}
		return any ? generic(rest, 0) : h('span.muted', null, '');
	}

	/* Any JSON value as nested text: objects as key/value lists, arrays as
	 * lists.  Every string goes in as a text node. */
	function generic(v, depth) {
		if (v === null) return h('span.j-null', null, 'null');
		if (typeof v === 'boolean') return h('span.j-bool', null, String(v));
		if (typeof v === 'number') return h('span.j-num', null, fmtNum(v));
		if (typeof v === 'string') return h('span.j-str', null, gt(v));
		if (depth > 8) return h('span.j-str', null, JSON.stringify(v));
		if (Array.isArray(v)) {
			if (!v.length) return h('span.muted', null, '[]');
			return h('ol.j-arr', null, v.map((x) => h('li', null, generic(x, depth + 1))));
		}
		if (typeof v === 'object') {
			const keys = Object.keys(v);
			if (!keys.length) return h('span.muted', null, '{}');
			const dl = h('dl.j-obj');
			for (const k of keys) {
				dl.appendChild(h('dt', null, k));
				dl.appendChild(h('dd', null, generic(v[k], depth + 1)));
			}
			return dl;
		}
		return h('span', null, String(v));
	}

	function condText(c) {
		/* {"messages_1m": 240, "op": ">=", "threshold": 100, "met": true} */
		const keys = Object.keys(c || {}).filter((k) => !['op', 'threshold', 'met'].includes(k));
		const m = keys[0];
		if (!m || keys.length !== 1) return generic(c, 2);
		return h('span.cond' + (c.met ? '.met' : ''), null, m + ' = ' + fmtNum(c[m]) + ' ' + (c.op || '?') + ' ' +
			fmtNum(c.threshold) + (c.met === true ? ' ✓' : c.met === false ? ' ✗' : ''));
	}

	function rulesTable(rules) {
		return table([
			{ t: 'Rule', f: (r) => h('span.mono', null, r && r.name !== undefined ? r.name : '?') },
			{ t: 'Action', f: (r) => badge(r && r.action) },
			{ t: 'Conditions', f: (r) => (Array.isArray(r && r.conditions) && r.conditions.length ?
				h('ul.conds', null, r.conditions.map((c) => h('li', null, condText(c)))) :
				h('span.muted', null, '—')) },
			{ t: '', f: (r) => extraFields(r, ['name', 'action', 'conditions']) },
		], rules.filter((r) => r && typeof r === 'object'), 'rules', 'no rules');
	}

	/* String lists the guest chose, shown verbatim (as text) in a list. */
	function strList(title, arr, testid) {
		return h('div.samples', { 'data-testid': testid },
			h('h4', null, title + ' (' + arr.length + ')'),
			h('ul.strs', null, arr.map((s) => h('li', null, typeof s === 'string' ? h('code.guest', null, gt(s)) :
				generic(s, 3)))));
	}

	const SAMPLE_TITLES = { subjects: 'Subjects', ehlo: 'EHLO names', helo: 'EHLO names', ehlo_names: 'EHLO names',
		helo_names: 'EHLO names', message_ids: 'Message-IDs', replies: 'Server replies', senders: 'Senders',
		mail_from: 'Envelope senders', rcpt_domains: 'Recipient domains' };

	function evidenceItem(e) {
		const vd = e && typeof e.verdict === 'object' && e.verdict ? e.verdict : {};
		const ev = vd.evidence && typeof vd.evidence === 'object' ? vd.evidence : null;
		const sum = h('summary', null,
			h('span.ev-time', null, fmtTime(e.ts)), ' ',
			badge(vd.verdict || 'verdict'), ' ',
			e.agent ? h('span.muted', null, 'agent ' + e.agent) : null, ' ',
			vd.duration !== undefined && vd.duration !== null ? h('span', null, 'duration ' +
				(typeof vd.duration === 'number' ? fmtDur(vd.duration) : String(vd.duration))) : null, ' ',
			Array.isArray(vd.rules) ? h('span.mono', null, vd.rules.map((r) => (r && r.name) || '?').join(', ')) : null);
		const body = h('div.evidence-body');
		body.appendChild(kv([
			['Reason', vd.reason !== undefined ? h('span.reason', null, String(vd.reason)) : undefined],
			['Offence', vd.offence !== undefined ? fmtNum(vd.offence) : undefined],
			['Observe only', vd.observe_only !== undefined ? String(vd.observe_only) : undefined],
			['Downgraded', vd.downgraded !== undefined ? String(vd.downgraded) : undefined],
			['Plan', vd.plan !== undefined ? (vd.plan === null ? null : String(vd.plan)) : undefined],
			['Agent time', vd.ts !== undefined ? String(vd.ts) : undefined],
		]));
		if (Array.isArray(vd.rules)) body.appendChild(h('div.rules', null, h('h4', null, 'Rules'), rulesTable(vd.rules)));
		if (ev) {
			const rest = {};
			const lists = h('div.sample-lists');
			let statsBox = null;
			for (const k of Object.keys(ev)) {
				const val = ev[k];
				if (Array.isArray(val) && val.every((x) => typeof x === 'string')) {
					if (val.length) lists.appendChild(strList(SAMPLE_TITLES[k] || k, val, 'ev-' + k.replace(/[^a-z0-9_]/gi, '_')));
				} else if (k === 'stats' && val && typeof val === 'object' && !Array.isArray(val)) {
					const chips = h('div.stat-chips');
					for (const sk of Object.keys(val)) {
						if (val[sk] === 0) continue;
						chips.appendChild(h('span.stat-chip', null, h('span.mono.muted', null, sk), ' ',
							h('b', null, generic(val[sk], 2))));
					}
					if (!chips.childNodes.length) chips.appendChild(h('span.muted', null, 'all zero'));
					statsBox = h('div.stats', { 'data-testid': 'ev-stats' },
						h('h4', null, 'Counters at the verdict (non-zero)'), chips);
				} else {
					rest[k] = val;
				}
			}
			if (statsBox) body.appendChild(statsBox);
			body.appendChild(lists);
			if (Object.keys(rest).length) body.appendChild(h('div.other', null, h('h4', null, 'Other evidence'),
				generic(rest, 1)));
		}
		const other = {};
		for (const k of Object.keys(vd))
			if (!['verdict', 'reason', 'offence', 'observe_only', 'downgraded', 'plan', 'ts', 'rules', 'evidence',
				'duration', 'vm', 'name', 'whitelisted'].includes(k)) other[k] = vd[k];
		for (const k of Object.keys(e || {}))
			if (!['ts', 'agent', 'verdict'].includes(k)) other['report.' + k] = e[k];
		if (Object.keys(other).length) body.appendChild(h('div.other', null, h('h4', null, 'Other fields'),
			generic(other, 1)));
		return h('details.evidence-item', { 'data-testid': 'evidence-item' }, sum, body);
	}

	function evidenceList(ev) {
		if (!ev.length) return h('p.muted', { 'data-testid': 'evidence-empty' }, 'No verdict reports.');
		const wrap = h('div.evidence-list', { 'data-testid': 'evidence' });
		ev.forEach((e, i) => {
			const item = evidenceItem(e);
			if (i === 0) item.open = true;
			wrap.appendChild(item);
		});
		return wrap;
	}

	/* ---- charts (inline SVG) ---------------------------------------------------------------- */

	function vmCharts(series, boxWidth) {
		/* two charts side by side above 1000 px (see app.css), drawn at their
		 * pixel width so text and lines are not stretched */
		const one = window.innerWidth > 899 ? Math.floor((boxWidth - 28 - 20) / 2) : boxWidth - 28;
		const W = Math.max(280, Math.min(2000, one || 600));
		if (!series.length) return h('p.muted', { 'data-testid': 'charts-empty' }, 'No samples in the last hour.');
		const s = series.filter((x) => x && typeof x.ts === 'number').slice().sort((a, b) => a.ts - b.ts);
		return h('div.charts', { 'data-testid': 'charts' },
			chart('Volume', s, W, [['messages', 'messages'], ['rcpts', 'recipients']], 'chart-volume'),
			chart('Reply classes', s, W, [['rejected', 'rejected'], ['deferred', 'deferred'],
				['user_unknown', 'user unknown'], ['blocklist', 'blocklist']], 'chart-replies'));
	}

	function chart(title, s, W, keys, testid) {
		const H = 200, L = 44, R = 10, T = 10, B = 22;
		const t1 = s[s.length - 1].ts, t0 = t1 - 3600;
		let max = 0;
		for (const x of s) for (const [k] of keys) if (typeof x[k] === 'number' && x[k] > max) max = x[k];
		const ymax = niceMax(max);
		const X = (ts) => L + ((ts - t0) / 3600) * (W - L - R);
		const Y = (v) => T + (1 - v / ymax) * (H - T - B);
		const root = svg('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img',
			'aria-label': title, 'data-testid': testid, width: W, height: H });
		root.appendChild(svg('title', null, title + ' per 10 s, last hour, max ' + max));
		for (let i = 0; i <= 4; i++) {
			const v = (ymax * i) / 4, y = Y(v);
			root.appendChild(svg('line', { class: 'grid-line', x1: L, x2: W - R, y1: y.toFixed(1), y2: y.toFixed(1) }));
			root.appendChild(svg('text', { class: 'axis', x: L - 4, y: (y + 3).toFixed(1), 'text-anchor': 'end' },
				fmtNum(Math.round(v * 10) / 10)));
		}
		for (let m = 0; m <= 60; m += 15) {
			const x = X(t0 + m * 60);
			root.appendChild(svg('line', { class: 'grid-line v', x1: x.toFixed(1), x2: x.toFixed(1), y1: T, y2: H - B }));
			root.appendChild(svg('text', { class: 'axis', x: x.toFixed(1), y: H - 6,
				'text-anchor': m === 0 ? 'start' : m === 60 ? 'end' : 'middle' }, m === 60 ? 'now' : '-' + (60 - m) + 'm'));
		}
		keys.forEach(([k], i) => {
			const pts = [];
			let prev = null;
			const segs = [];
			for (const x of s) {
				if (x.ts < t0) continue;
				const v = typeof x[k] === 'number' ? x[k] : 0;
				/* a gap of more than 2 samples breaks the line */
				if (prev !== null && x.ts - prev > 25 && pts.length) {
					segs.push(pts.splice(0));
				}
				pts.push(X(x.ts).toFixed(1) + ',' + Y(v).toFixed(1));
				prev = x.ts;
			}
			if (pts.length) segs.push(pts);
			for (const p of segs) {
				if (p.length === 1) {
					const [cx, cy] = p[0].split(',');
					root.appendChild(svg('circle', { class: 'series s' + i, cx, cy, r: 2 }));
				} else {
					root.appendChild(svg('polyline', { class: 'series s' + i, points: p.join(' ') }));
				}
			}
		});
		const legend = h('div.legend', null, keys.map(([k, label], i) => {
			let sum = 0;
			for (const x of s) if (x.ts >= t0 && typeof x[k] === 'number') sum += x[k];
			return h('span.legend-item', null, svg('svg', { class: 'swatch', viewBox: '0 0 10 10', 'aria-hidden': 'true' },
				svg('rect', { class: 'sw s' + i, x: 0, y: 0, width: 10, height: 10 })), ' ' + label + ' ', h('b', null, fmtNum(sum)));
		}));
		return h('figure.chart-box', null, h('figcaption', null, title), root, legend);
	}

	function niceMax(v) {
		if (v <= 0) return 1;
		const p = Math.pow(10, Math.floor(Math.log10(v)));
		for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
		return 10 * p;
	}

	/* ---- actions (support/admin only: never rendered for a viewer) ------------------------ */

	const WL_DURATIONS = [[86400, '1 day'], [7 * 86400, '7 days'], [30 * 86400, '30 days'], [90 * 86400, '90 days'],
		[365 * 86400, '1 year']];

	const DURATIONS = [[600, '10 minutes'], [3600, '1 hour'], [6 * 3600, '6 hours'], [86400, '1 day'],
		[7 * 86400, '7 days'], [30 * 86400, '30 days']];

	function actionButton(label, testid, cls, fn) {
		const b = h('button.' + (cls || 'primary').split(' ').join('.'), { type: 'button', 'data-testid': testid }, label);
		b.addEventListener('click', fn);
		return b;
	}

	function vmActions(d, view) {
		if (!canWrite()) return h('span');
		const box = h('div.action-row');
		const reload = () => view.refresh();
		if (d.block) {
			box.appendChild(actionButton('Unblock…', 'btn-unblock', 'danger', () => unblockDialog(d.uuid, d.name, reload)));
			box.appendChild(actionButton('Extend…', 'btn-extend', 'primary', () => extendDialog(view.current() || d, reload)));
		} else {
			box.appendChild(actionButton('Block…', 'btn-block', 'danger', () => blockDialog(d.uuid, d.name, !!d.whitelist, reload)));
		}
		if (d.whitelist) {
			box.appendChild(actionButton('Revoke whitelist…', 'btn-revoke', 'ghost',
				() => revokeDialog(d.uuid, d.name, reload)));
		} else {
			box.appendChild(actionButton('Whitelist…', 'btn-whitelist', 'ghost', () => {
				location.hash = '#/whitelist' + qs({ uuid: d.uuid });
			}));
		}
		return box;
	}

	function field(id, label, input, hint) {
		return h('div.field', null, h('label', { for: id }, label), input, hint ? h('small.muted', null, hint) : null);
	}

	function reasonInput(id) {
		return h('input', { id, type: 'text', maxlength: 500, required: true, autocomplete: 'off',
			'data-testid': id });
	}

	function operatorInput(id) {
		let op = '';
		try {
			op = sessionStorage.getItem(OPERATOR_KEY) || '';
		} catch (e) { /* ignore */ }
		return h('input', { id, type: 'text', maxlength: 64, value: op, autocomplete: 'off', 'data-testid': id,
			placeholder: 'optional: who you are' });
	}

	function readOperator(inp, body) {
		const op = inp.value.trim();
		try {
			sessionStorage.setItem(OPERATOR_KEY, op);
		} catch (e) { /* ignore */ }
		if (op) body.operator = op;
		return body;
	}

	function durationSelect(id, choices, def) {
		return h('select', { id, 'data-testid': id }, choices.map(([s, label]) =>
			h('option', { value: String(s), selected: s === def }, label)));
	}

	/* The dialog's subject line: the VM, with more before (pre) and after (post). */
	function vmLabel(uuid, name, pre, post) {
		return h('p.dialog-vm', null, pre, name ? [h('b', null, gt(name)), ' '] : null, h('span.mono.muted', null, uuid || ''),
			post);
	}

	/* The in-page dialog: fields (nodes), onSubmit() returns a promise; its
	 * rejection shows in the dialog. */
	let dialogSubmit = null;

	function openDialog(title, nodes, submitLabel, submitCls, onSubmit) {
		const dlg = $('dialog');
		$('dialog-title').textContent = title;
		const body = clear($('dialog-body'));
		append(body, nodes);
		const err = $('dialog-error');
		err.hidden = true;
		err.textContent = '';
		const sb = $('dialog-submit');
		sb.textContent = submitLabel;
		sb.className = submitCls || 'primary';
		sb.disabled = false;
		dialogSubmit = onSubmit;
		if (!dlg.open) dlg.showModal();
		const first = body.querySelector('input:not([type=hidden]), select');
		if (first) first.focus();
	}

	function closeDialog() {
		const dlg = $('dialog');
		dialogSubmit = null;
		if (dlg.open) dlg.close();
	}

	async function dialogGo(e) {
		e.preventDefault();
		if (!dialogSubmit) return;
		const sb = $('dialog-submit'), err = $('dialog-error');
		for (const inp of $('dialog-body').querySelectorAll('input[required]')) {
			if (!inp.value.trim()) {
				err.textContent = (inp.labels && inp.labels[0] ? inp.labels[0].textContent : 'This field') + ' is required.';
				err.hidden = false;
				inp.focus();
				return;
			}
		}
		sb.disabled = true;
		try {
			const fn = dialogSubmit;
			const msg = await fn();
			closeDialog();
			if (msg) showMsg(msg, 'ok');
		} catch (x) {
			err.textContent = x.message || String(x);
			err.hidden = false;
		} finally {
			sb.disabled = false;
		}
	}

	/* A dialog that asks only for a reason (and the operator): post(body)
	 * sends {reason, operator} and returns the success message. */
	function reasonDialog(title, label, submitLabel, submitCls, hint, post, done) {
		const reason = reasonInput('dlg-reason'), op = operatorInput('dlg-operator');
		openDialog(title, [label, field('dlg-reason', 'Reason', reason, hint), field('dlg-operator', 'Operator', op)],
			submitLabel, submitCls, async () => {
				const msg = await post(readOperator(op, { reason: reason.value.trim() }));
				done();
				return msg;
			});
	}

	function unblockDialog(uuid, name, done) {
		reasonDialog('Unblock VM', vmLabel(uuid, name), 'Unblock', 'danger', 'recorded in the audit log', async (body) => {
			const r = await api('DELETE', '/v1/blocks/' + encodeURIComponent(uuid), body);
			return 'Unblocked ' + (name || uuid) + (r && r.decision ? ' (decision ' + r.decision + ')' : '');
		}, done);
	}

	function blockDialog(uuid, name, whitelisted, done) {
		const reason = reasonInput('dlg-reason'), op = operatorInput('dlg-operator');
		const dur = durationSelect('dlg-duration', DURATIONS, 3600);
		openDialog('Block VM', [vmLabel(uuid, name),
			whitelisted ? h('p.warn-text', null, 'This VM is whitelisted; a manual block applies anyway.') : null,
			field('dlg-duration', 'Duration', dur), field('dlg-reason', 'Reason', reason),
			field('dlg-operator', 'Operator', op)], 'Block', 'danger', async () => {
			const body = readOperator(op, { uuid, duration_s: Number(dur.value), reason: reason.value.trim() });
			const r = await api('POST', '/v1/blocks', body);
			done();
			return 'Blocked ' + (name || uuid) + (r && r.until ? ' until ' + fmtTime(r.until) : '');
		});
	}

	function extendDialog(d, done) {
		const reason = reasonInput('dlg-reason'), op = operatorInput('dlg-operator');
		const ext = durationSelect('dlg-extend', [[3600, '+1 hour'], [6 * 3600, '+6 hours'], [86400, '+1 day'],
			[7 * 86400, '+7 days'], [30 * 86400, '+30 days']], 3600);
		const until = d.block ? d.block.until : serverNow();
		openDialog('Extend block', [vmLabel(d.uuid, d.name),
			h('p', null, 'Now expires in ', countdown(until), '.'),
			field('dlg-extend', 'Extend by', ext), field('dlg-reason', 'Reason', reason),
			field('dlg-operator', 'Operator', op)], 'Extend', 'primary', async () => {
			const remaining = Math.max(0, Math.ceil(until - serverNow()));
			const total = Math.min(31536000, Math.max(60, remaining + Number(ext.value)));
			const body = readOperator(op, { uuid: d.uuid, duration_s: total, reason: reason.value.trim() });
			const r = await api('POST', '/v1/blocks', body);
			done();
			return 'Block on ' + (d.name || d.uuid) + ' now ends ' + (r && r.until ? fmtTime(r.until) : 'later');
		});
	}

	function revokeDialog(uuid, name, done) {
		reasonDialog('Revoke whitelist entry', vmLabel(uuid, name), 'Revoke', 'danger', null, async (body) => {
			await api('DELETE', '/v1/whitelist/' + encodeURIComponent(uuid), body);
			return 'Whitelist entry for ' + (name || uuid) + ' revoked';
		}, done);
	}

	/* ---- whitelist ----------------------------------------------------------------------------- */

	function viewWhitelist(v, params) {
		const c = section('Whitelist', 'whitelist');
		const body = h('div');
		c.body.appendChild(body);
		let view = null;
		if (canWrite()) append(v, [approveForm(params.get('uuid') || '', () => view && view.refresh())]);
		append(v, [c.el]);
		view = startView('whitelist', async () => {
			const r = await api('GET', '/v1/whitelist');
			const en = r.entries || [];
			c.head.querySelector('h2').textContent = 'Whitelist (' + en.length + ')';
			const cols = [
				{ t: 'VM', f: (x) => vmLink(x.uuid, '', 'wl-vm') },
				{ t: 'Customer', f: (x) => x.customer || '' },
				{ t: 'Ticket', f: (x) => h('span.mono.nowrap', null, x.ticket || '') },
				{ t: 'By', f: (x) => h('span.by', null, h('span', null, x.approver || ''),
					x.operator ? h('span.muted', null, x.operator) : null) },
				{ t: 'Reason', f: (x) => h('span.reason', null, gt(x.reason || '')) },
				{ t: 'Created', f: (x) => timeCell(x.created, true) },
				{ t: 'Expires', f: (x) => (x.expires ? timeCell(x.expires, true) : h('span.never', null, 'never')) },
				{ t: 'Limits', f: (x) => limitsText(x.limits) },
			];
			if (canWrite()) cols.push({ t: '', f: (x) => actionButton('Revoke…', 'btn-revoke', 'ghost small',
				() => revokeDialog(x.uuid, '', () => view.refresh())) });
			patch(body, [canWrite(), en], () => table(cols, en, 'whitelist-table', 'no entries'));
		});
	}

	function approveForm(prefill, done) {
		const uuid = h('input', { id: 'wl-uuid', type: 'text', maxlength: 36, value: prefill, required: true,
			'data-testid': 'wl-uuid', placeholder: '8-4-4-4-12 hex', autocomplete: 'off', spellcheck: 'false' });
		const customer = h('input', { id: 'wl-customer', type: 'text', maxlength: 128, required: true,
			'data-testid': 'wl-customer', autocomplete: 'off' });
		const ticket = h('input', { id: 'wl-ticket', type: 'text', maxlength: 64, required: true,
			'data-testid': 'wl-ticket', autocomplete: 'off' });
		const reason = h('input', { id: 'wl-reason', type: 'text', maxlength: 500, required: true,
			'data-testid': 'wl-reason', autocomplete: 'off' });
		const op = operatorInput('wl-operator');
		const expiry = durationSelect('wl-expiry', WL_DURATIONS.concat([[0, 'never']]), 30 * 86400);
		const mode = h('select', { id: 'wl-mode', 'data-testid': 'wl-mode' },
			h('option', { value: 'exempt' }, 'full exemption'), h('option', { value: 'scale' }, 'scale thresholds'));
		const scale = h('input', { id: 'wl-scale', type: 'number', min: 2, max: 1000, step: 1, value: 5,
			'data-testid': 'wl-scale', disabled: true });
		mode.addEventListener('change', () => {
			scale.disabled = mode.value !== 'scale';
		});
		const err = h('p.error-text', { role: 'alert', hidden: true, 'data-testid': 'wl-error' });
		const submit = h('button.primary', { type: 'submit', 'data-testid': 'btn-whitelist-approve' }, 'Approve');
		const form = h('form.approve', { 'data-testid': 'wl-approve-form', novalidate: true, autocomplete: 'off' },
			h('div.form-grid', null,
				field('wl-uuid', 'VM UUID', uuid), field('wl-customer', 'Customer', customer),
				field('wl-ticket', 'Ticket', ticket), field('wl-reason', 'Reason', reason),
				field('wl-expiry', 'Expires after', expiry), field('wl-mode', 'Limits', mode),
				field('wl-scale', 'Scale ×', scale, '2 … 1000'), field('wl-operator', 'Operator', op)),
			err, h('div.form-actions', null, submit));
		form.addEventListener('submit', async (e) => {
			e.preventDefault();
			err.hidden = true;
			const u = uuid.value.trim().toLowerCase();
			let problem = '';
			if (!UUID_RE.test(u)) problem = 'VM UUID: a domain UUID (8-4-4-4-12 hex digits).';
			else if (!customer.value.trim()) problem = 'Customer is required.';
			else if (!ticket.value.trim()) problem = 'Ticket is required.';
			else if (!reason.value.trim()) problem = 'Reason is required.';
			const body = { uuid: u, customer: customer.value.trim(), ticket: ticket.value.trim(),
				reason: reason.value.trim() };
			const ex = Number(expiry.value);
			if (ex > 0) body.duration_s = ex;
			else body.expires = 0;
			if (mode.value === 'scale') {
				const n = Number(scale.value);
				if (!Number.isInteger(n) || n < 2 || n > 1000) problem = problem || 'Scale: an integer from 2 to 1000.';
				body.limits = { scale: n };
			} else {
				body.limits = null;
			}
			readOperator(op, body);
			if (problem) {
				err.textContent = problem;
				err.hidden = false;
				return;
			}
			submit.disabled = true;
			try {
				await api('POST', '/v1/whitelist', body);
				showMsg('Whitelisted ' + u + ' (ticket ' + body.ticket + ')', 'ok');
				for (const i of [uuid, customer, ticket, reason]) i.value = '';
				done();
			} catch (x) {
				err.textContent = x.message;
				err.hidden = false;
			} finally {
				submit.disabled = false;
			}
		});
		const s = section('Approve a whitelist entry', 'wl-approve', h('a.more', { href: '#/requests/new' +
			qs({ uuid: prefill }), 'data-testid': 'wl-request-link' }, 'or file a request with evidence and checks →'));
		s.body.appendChild(form);
		if (prefill) setTimeout(() => customer.focus(), 0);
		return s.el;
	}

	/* ---- whitelist requests ------------------------------------------------------------------ */

	/* Which part of doc/checks.md a checklist line comes from. */
	const CHECK_GROUPS = {
		message: ['structure', 'required_headers', 'from_domain', 'bulk_headers', 'list_unsubscribe', 'one_click',
			'body_unsubscribe', 'dkim', 'postal_address', 'why_received', 'html_content', 'link_hosts',
			'link_redirects', 'subject', 'lint'],
		request: ['unsubscribe_url', 'signup_url', 'consent_method', 'sample_size'],
		dns: ['ptr', 'fcrdns', 'spf', 'dmarc', 'dkim_key', 'dnsbl', 'dns'],
	};

	function checkGroup(name) {
		for (const g of Object.keys(CHECK_GROUPS)) if (CHECK_GROUPS[g].includes(name)) return g;
		return 'other';
	}

	function reqHref(id) {
		return '#/requests/' + encodeURIComponent(String(id));
	}

	function viewRequests(v, params) {
		const state = REQ_STATES.includes(params.get('state')) ? params.get('state') : 'any';
		const limit = [100, 250, 1000].includes(Number(params.get('limit'))) ? Number(params.get('limit')) : 100;
		const fState = h('select', { id: 'rq-state', 'data-testid': 'requests-state' },
			REQ_STATES.concat(['any']).map((s) => option(s, s, state)));
		const fLimit = h('select', { id: 'rq-limit', 'data-testid': 'requests-limit' },
			[100, 250, 1000].map((n) => option(String(n), String(n), String(limit))));
		const apply = () => {
			const p = {};
			if (fState.value !== 'any') p.state = fState.value;
			if (Number(fLimit.value) !== 100) p.limit = fLimit.value;
			location.hash = '#/requests' + qs(p);
		};
		fState.addEventListener('change', apply);
		fLimit.addEventListener('change', apply);
		const count = h('span.muted', { 'data-testid': 'requests-count' });
		const c = section('Whitelist requests', 'requests', canWrite() ? actionButton('New request…', 'btn-new-request',
			'primary', () => {
				location.hash = '#/requests/new';
			}) : null);
		const body = h('div');
		append(c.body, [h('div.filters', { 'data-testid': 'requests-filters' },
			h('label', { for: 'rq-state' }, 'State'), fState, h('label', { for: 'rq-limit' }, 'Show'), fLimit, count), body]);
		append(v, [c.el]);

		startView('requests', async () => {
			const q = { limit };
			if (state !== 'any') q.state = state;
			const r = await api('GET', '/v1/requests' + qs(q));
			const rows = Array.isArray(r.requests) ? r.requests : [];
			count.textContent = rows.length < (r.total || 0) ? 'newest ' + fmtNum(rows.length) + ' of ' + fmtNum(r.total) :
				fmtNum(rows.length) + (rows.length === 1 ? ' request' : ' requests');
			patch(body, rows, () => table([
				{ t: 'ID', cls: 'num', f: (x) => h('a.mono', { href: reqHref(x.id), 'data-testid': 'request-link' }, '#' + x.id) },
				{ t: 'VM', f: (x) => vmLink(x.uuid, x.name) },
				{ t: 'Ticket', f: (x) => h('span.mono.nowrap', null, gt(x.ticket || '')) },
				{ t: 'Customer', f: (x) => gt(x.customer || '') },
				{ t: 'State', f: (x) => badge(x.state, 'request-state') },
				{ t: 'Checks', f: (x) => badge(x.result, 'request-result') },
				{ t: 'Created', f: (x) => timeCell(x.created, true) },
				{ t: 'Created by', f: (x) => x.created_by || '' },
				{ t: 'Decided by', f: (x) => (x.decided_by ? h('span.by', null, h('span', null, x.decided_by),
					x.decided ? relOnly(x.decided) : null) : h('span.muted', null, '—')) },
			], rows, 'requests-table', state === 'any' ? 'no whitelist requests' : 'no ' + state + ' requests',
			(x) => ({ 'data-id': x && x.id !== undefined ? String(x.id) : null, 'data-state': x ? x.state : null })));
		});
	}

	/* A URL the customer gave: a link only for http(s), shown as text. */
	function urlText(u, testid) {
		if (!u) return null;
		const s = String(u);
		if (/^https?:\/\/[^\s]+$/i.test(s))
			return h('a.url', { href: s, target: '_blank', rel: 'noopener noreferrer', 'data-testid': testid }, gt(s));
		return h('code.guest', { 'data-testid': testid }, gt(s));
	}

	function viewRequest(v, idRaw) {
		const id = String(idRaw);
		if (!REQ_ID_RE.test(id)) {
			append(v, [badIdCard('Not a request id', id)]);
			return;
		}
		const head = h('section.card.vm-head.req-head', { 'data-testid': 'request-head' });
		const actions = h('div.actions', { 'data-testid': 'request-actions' });
		const checks = section('Checklist', 'request-checks');
		const files = section('Sample and evidence', 'request-files');
		const consent = section('Consent', 'request-consent');
		append(v, [head, checks.el, h('div.grid-vm', null, consent.el, files.el)]);
		let cur = null;

		const view = startView('request', async () => {
			const r = await apiFound('/v1/requests/' + encodeURIComponent(id));
			if (!r) {
				patch(head, 'missing', () => h('div', null, h('h1', null, 'No such request'),
					h('p.mono', null, '#' + id), h('p', null, h('a', { href: '#/requests' }, 'All requests'))));
				return;
			}
			cur = r;
			patch(head, r, () => requestHead(r));
			if (!head.contains(actions)) head.appendChild(actions);
			patch(actions, [canWrite(), r.state, r.result], () => requestActions(r, view));

			const cl = Array.isArray(r.checks) ? r.checks.filter((x) => x && typeof x === 'object') : [];
			const n = { fail: 0, warn: 0, pass: 0 };
			for (const x of cl) if (n[x.status] !== undefined) n[x.status]++;
			checks.head.querySelector('h2').textContent = 'Checklist (' + n.fail + ' fail, ' + n.warn + ' warn, ' +
				n.pass + ' pass)';
			patch(checks.body, [cl, r.checked], () => h('div', null, table([
				{ t: 'Check', f: (x) => h('span.mono', { 'data-testid': 'check-name' }, gt(x.name || '?')) },
				{ t: 'Kind', f: (x) => h('span.muted', null, checkGroup(x.name)) },
				{ t: 'Status', f: (x) => badge(x.status, 'check-status') },
				{ t: 'Reason', f: (x) => h('span.reason', null, gt(x.reason || '')) },
			], cl, 'request-checks', 'no checks recorded', (x) => ({
				'data-name': String(x.name || ''),
				class: ['pass', 'warn', 'fail'].includes(x.status) ? 'check-' + x.status : null,
			})), h('p.muted.small', null, 'Checked ', timeCell(r.checked), r.result === 'fail' ?
				' · a failed check blocks approval unless the approver overrides it (force, recorded in the audit log)' :
				null)));

			patch(consent.body, [r.consent_method, r.signup_url, r.unsubscribe_url], () => kv([
				['Consent method', r.consent_method ? h('span.prewrap', { 'data-testid': 'req-consent' },
					gt(r.consent_method)) : null],
				['Sign-up URL', r.signup_url ? urlText(r.signup_url, 'req-signup') : null],
				['Unsubscribe URL', r.unsubscribe_url ? urlText(r.unsubscribe_url, 'req-unsubscribe') : null],
			], 'request-consent'));

			const fl = [];
			if (r.sample && typeof r.sample === 'object') fl.push(Object.assign({ kind: 'sample', fetch: 'sample' }, r.sample));
			for (const e of Array.isArray(r.evidence) ? r.evidence : [])
				if (e && typeof e === 'object') fl.push(Object.assign({ kind: 'evidence', fetch: String(e.name || '') }, e));
			files.head.querySelector('h2').textContent = 'Sample and evidence (' + fl.length + ')';
			const cols = [
				{ t: 'File', f: (x) => h('code.guest', { 'data-testid': 'file-name' }, gt(x.name || x.fetch)) },
				{ t: 'Kind', f: (x) => h('span.muted', null, x.kind) },
				{ t: 'Size', cls: 'num', f: (x) => h('span', { title: fmtNum(x.size) + ' bytes', 'data-testid': 'file-size' },
					fmtBytes(x.size)) },
				{ t: 'SHA-256', f: (x) => h('span.mono.hash', { 'data-testid': 'file-sha256' }, x.sha256 || '') },
			];
			if (canWrite()) cols.push({ t: '', f: (x) => actionButton('Download', 'btn-download', 'ghost small',
				(e) => downloadFile(r.id, x, e.currentTarget)) });
			patch(files.body, [canWrite(), fl], () => h('div', null, table(cols, fl, 'request-files', 'no files',
				(x) => ({ 'data-file': x.fetch })), canWrite() ? h('p.muted.small', null,
				'Files download as attachments and are never opened in the dashboard.') : null));
		});
		view.current = () => cur;
	}

	function requestHead(r) {
		const by = (who, op) => (who ? h('span', null, who, op ? h('span.muted', null, ' (' + op + ')') : null) : null);
		const decided = r.state !== 'pending';
		return h('div', null,
			h('div.vm-title', null, h('h1', { 'data-testid': 'req-title' }, 'Whitelist request #' + r.id),
				badge(r.state, 'req-state'), badge(r.result, 'req-result'),
				r.forced ? h('span.badge.badge-forced', { 'data-testid': 'req-forced', title: 'failed checks overridden' },
					'forced') : null),
			h('p.req-vm', null, 'VM ', vmLink(r.uuid, r.name, 'req-vm')),
			kv([
				['Ticket', r.ticket ? h('span.mono', { 'data-testid': 'req-ticket' }, gt(r.ticket)) : null],
				['Customer', r.customer ? gt(r.customer) : null],
				['From domain', r.from_domain ? h('span.mono', null, gt(r.from_domain)) : null],
				['Sending IPs', Array.isArray(r.ips) && r.ips.length ? h('span.mono', { 'data-testid': 'req-ips' },
					r.ips.map(String).join(', ')) : null],
				['Created', timeCell(r.created)],
				['Created by', by(r.created_by, r.operator)],
				['Decided', decided ? timeCell(r.decided) : undefined],
				['Decided by', decided ? by(r.decided_by, r.decided_operator) : undefined],
				['Decision reason', decided ? (r.decision_reason ? h('span.reason', { 'data-testid': 'req-decision-reason' },
					gt(r.decision_reason)) : null) : undefined],
				['Audit id', r.decision ? h('span.mono', null, String(r.decision)) : undefined],
				['Expires', r.expires ? h('span', null, timeCell(r.expires), r.state === 'approved' ?
					[' · ', countdown(r.expires, 'req-countdown')] : null) : undefined],
				['Limits', r.state !== 'pending' && r.state !== 'rejected' ? limitsText(r.limits) : undefined],
				['Ended', r.ended ? timeCell(r.ended) : undefined],
				['Ended because', r.ended_reason ? h('span.reason', null, gt(r.ended_reason)) : undefined],
			], 'request-facts'));
	}

	function requestActions(r, view) {
		if (!canWrite() || r.state !== 'pending') return h('span');
		const reload = () => view.refresh();
		const box = h('div.action-row');
		box.appendChild(actionButton('Approve…', 'btn-approve', 'primary', () => approveRequestDialog(view.current() || r,
			reload)));
		box.appendChild(actionButton('Reject…', 'btn-reject', 'danger', () => rejectRequestDialog(view.current() || r,
			reload)));
		box.appendChild(actionButton('Recheck', 'btn-recheck', 'ghost', async (e) => {
			const b = e.currentTarget;
			b.disabled = true;
			b.textContent = 'Checking…';
			try {
				const x = await api('POST', '/v1/requests/' + encodeURIComponent(r.id) + '/recheck', {});
				showMsg('Request #' + r.id + ' checked again: ' + (x && x.result ? x.result : 'done'), 'ok');
				reload();
			} catch (x) {
				if (x.status !== 401) showMsg(x.message, 'error');
			} finally {
				b.disabled = false;
				b.textContent = 'Recheck';
			}
		}));
		return box;
	}

	function requestLabel(r) {
		return vmLabel(r.uuid, r.name, [h('b', null, 'Request #' + r.id), ' · '], r.ticket ? [' · ticket ', gt(r.ticket)] : null);
	}

	function approveRequestDialog(r, done) {
		const reason = reasonInput('dlg-reason'), op = operatorInput('dlg-operator');
		const dur = durationSelect('dlg-wl-duration', WL_DURATIONS.concat([[3 * 365 * 86400, '3 years'],
			['days', 'number of days…']]), 30 * 86400);
		const days = h('input', { id: 'dlg-days', type: 'number', min: 1, max: 1095, step: 1, value: 30,
			'data-testid': 'dlg-days', disabled: true });
		dur.addEventListener('change', () => {
			days.disabled = dur.value !== 'days';
		});
		const scale = h('input', { id: 'dlg-scale', type: 'number', min: 2, max: 1000, step: 1,
			placeholder: 'empty: full exemption', 'data-testid': 'dlg-scale' });
		const failed = (Array.isArray(r.checks) ? r.checks : []).filter((c) => c && c.status === 'fail')
			.map((c) => String(c.name));
		const force = h('input', { id: 'dlg-force', type: 'checkbox', 'data-testid': 'dlg-force' });
		const forceBox = r.result === 'fail' ? h('div.force', null,
			h('p.warn-text', null, 'Failed checks: ' + (failed.length ? failed.join(', ') : '(see the checklist)') +
				'. The controller refuses the approval unless you override them.'),
			h('label.check', { for: 'dlg-force' }, force, ' force: override failed checks (recorded in the audit log)')) : null;
		openDialog('Approve whitelist request', [requestLabel(r), forceBox,
			field('dlg-wl-duration', 'Whitelisted for', dur), field('dlg-days', 'Days', days, '1 … 1095'),
			field('dlg-scale', 'Limits: scale thresholds ×', scale, '2 … 1000; empty: full exemption'),
			field('dlg-reason', 'Reason', reason, 'recorded in the audit log'),
			field('dlg-operator', 'Operator', op)], 'Approve', 'primary', async () => {
			let secs = Number(dur.value);
			if (dur.value === 'days') {
				const d = Number(days.value);
				if (!Number.isInteger(d) || d < 1 || d > 1095) throw new Error('Days: an integer from 1 to 1095.');
				secs = d * 86400;
			}
			let limits = null;
			if (scale.value.trim() !== '') {
				const n = Number(scale.value);
				if (!Number.isInteger(n) || n < 2 || n > 1000) throw new Error('Scale: an integer from 2 to 1000, or empty.');
				limits = { scale: n };
			}
			const body = readOperator(op, { reason: reason.value.trim(), duration_s: secs, limits });
			if (force.checked) body.force = true;
			const x = await api('POST', '/v1/requests/' + encodeURIComponent(r.id) + '/approve', body);
			done();
			return 'Request #' + r.id + ' approved: ' + (r.name || r.uuid) + ' whitelisted' +
				(x && x.expires ? ' until ' + fmtTime(x.expires) : '') + (x && x.forced ? ' (forced)' : '');
		});
	}

	function rejectRequestDialog(r, done) {
		reasonDialog('Reject whitelist request', requestLabel(r), 'Reject', 'danger', 'recorded in the audit log',
			async (body) => {
				await api('POST', '/v1/requests/' + encodeURIComponent(r.id) + '/reject', body);
				return 'Request #' + r.id + ' rejected';
			}, done);
	}

	/* A file name the API accepts (1-100 of A-Z a-z 0-9 . _ -, no leading
	 * dot), kept close to the original. */
	function safeFileName(name, fallback) {
		let s = String(name || '').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '');
		if (s.length > 100) {
			const dot = s.lastIndexOf('.');
			const ext = dot > 0 && s.length - dot <= 12 ? s.slice(dot) : '';
			s = s.slice(0, 100 - ext.length) + ext;
		}
		return s || fallback;
	}

	function uniqueName(name, taken) {
		let s = name, i = 2;
		const dot = name.lastIndexOf('.');
		const stem = dot > 0 ? name.slice(0, dot) : name, ext = dot > 0 ? name.slice(dot) : '';
		while (taken.has(s)) s = (stem.slice(0, 100 - ext.length - 4) + '-' + i++) + ext;
		taken.add(s);
		return s;
	}

	/* The chosen file as {name, content_base64} (btoa takes a binary string:
	 * built 32 KiB at a time, under the engines' argument limits). */
	async function fileBody(file, name) {
		const u = new Uint8Array(await file.arrayBuffer());
		let s = '';
		for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000));
		return { name, content_base64: btoa(s) };
	}

	/* Download a request's file: fetched with the token, saved through an
	 * object URL as octet-stream (the browser never renders it). */
	async function downloadFile(id, f, btn) {
		if (btn) btn.disabled = true;
		try {
			const blob = await apiBlob('/v1/requests/' + encodeURIComponent(id) + '/files/' + encodeURIComponent(f.fetch));
			const url = URL.createObjectURL(new Blob([blob], { type: 'application/octet-stream' }));
			let save = safeFileName(f.kind === 'sample' ? f.name : f.fetch, f.kind === 'sample' ? 'sample' : 'file');
			if (f.kind === 'sample' && !/\.eml$/i.test(save)) save += '.eml';
			const a = h('a', { href: url, download: save, hidden: true });
			document.body.appendChild(a);
			a.click();
			a.remove();
			setTimeout(() => URL.revokeObjectURL(url), 60000);
			showMsg('Downloaded ' + save + ' (' + fmtBytes(blob.size) + ')', 'ok');
		} catch (e) {
			if (e.status !== 401) showMsg(e.message || String(e), 'error');
		} finally {
			if (btn) btn.disabled = false;
		}
	}

	const REQ_EVIDENCE_MAX = 8;

	function viewRequestNew(v, params) {
		S.view = { name: 'request-new' };
		setRefreshState(true, '');
		const s = section('New whitelist request', 'req-new', h('a.more', { href: '#/requests' }, 'all requests →'));
		append(v, [s.el]);
		if (!canWrite()) {
			s.body.appendChild(h('p.muted', { 'data-testid': 'req-form-denied' },
				'Filing a whitelist request needs the support role.'));
			return;
		}
		const text = (id, max, attrs) => h('input', Object.assign({ id, type: 'text', maxlength: max, autocomplete: 'off',
			'data-testid': id, spellcheck: 'false' }, attrs || {}));
		const uuid = text('req-uuid', 36, { value: String(params.get('uuid') || '').toLowerCase(), required: true,
			placeholder: '8-4-4-4-12 hex' });
		const ticket = text('req-ticket', 64, { required: true });
		const customer = text('req-customer', 128, { required: true });
		const consent = h('textarea', { id: 'req-consent', rows: 3, maxlength: 4000, 'data-testid': 'req-consent',
			placeholder: 'how the recipients subscribed, e.g. double opt-in: sign-up form, then a confirmation link' });
		const signup = text('req-signup', 2000, { type: 'url', placeholder: 'https://…' });
		const unsub = text('req-unsub', 2000, { type: 'url', placeholder: 'https://… (the sample\'s own link)' });
		const ips = text('req-ips', 1000, { required: true, placeholder: '198.51.100.7, 2001:db8::7' });
		const sample = h('input', { id: 'req-sample', type: 'file', accept: '.eml,message/rfc822,text/plain',
			required: true, 'data-testid': 'req-sample' });
		const evidence = h('input', { id: 'req-evidence', type: 'file', multiple: true, 'data-testid': 'req-evidence' });
		const evList = h('ul.file-list', { 'data-testid': 'req-evidence-list' });
		const sampleInfo = h('small.muted', { 'data-testid': 'req-sample-info' }, 'required: the raw message (.eml)');
		const op = operatorInput('req-operator');
		const err = h('p.error-text', { role: 'alert', hidden: true, 'data-testid': 'req-error' });
		const submit = h('button.primary', { type: 'submit', 'data-testid': 'req-submit' }, 'File request');

		/* the names the files will have on the controller */
		const evNames = () => {
			const taken = new Set(['sample']);
			return Array.from(evidence.files || []).map((f) => uniqueName(safeFileName(f.name, 'evidence'), taken));
		};
		sample.addEventListener('change', () => {
			const f = sample.files && sample.files[0];
			sampleInfo.textContent = f ? f.name + ' · ' + fmtBytes(f.size) : 'required: the raw message (.eml)';
		});
		evidence.addEventListener('change', () => {
			const fs = Array.from(evidence.files || []), names = evNames();
			clear(evList);
			fs.forEach((f, i) => evList.appendChild(h('li', null, h('code.guest', null, gt(names[i])), ' ',
				h('span.muted', null, fmtBytes(f.size)), names[i] !== f.name ? h('span.muted', null, ' (from ', gt(f.name),
				')') : null)));
			if (fs.length > REQ_EVIDENCE_MAX)
				evList.appendChild(h('li.error-text', null, 'at most ' + REQ_EVIDENCE_MAX + ' files'));
		});

		const wide = (el) => {
			el.classList.add('wide');
			return el;
		};
		const form = h('form.req-form', { 'data-testid': 'req-form', id: 'req-form', novalidate: true, autocomplete: 'off' },
			h('div.form-grid', null,
				field('req-uuid', 'VM UUID', uuid), field('req-ticket', 'Ticket', ticket),
				field('req-customer', 'Customer', customer), field('req-ips', 'Sending IPs', ips, 'comma or space separated'),
				wide(field('req-consent', 'Consent method', consent, 'support needs a description (checked: not empty, ' +
					'20 characters or more)')),
				field('req-signup', 'Sign-up URL', signup), field('req-unsub', 'Unsubscribe URL', unsub),
				h('div.field', null, h('label', { for: 'req-sample' }, 'Sample message'), sample, sampleInfo),
				h('div.field', null, h('label', { for: 'req-evidence' }, 'Evidence files'), evidence,
					h('small.muted', null, 'optional: up to ' + REQ_EVIDENCE_MAX + ' files of 4 MiB each (screenshots, ' +
						'consent logs)'), evList),
				field('req-operator', 'Operator', op)),
			err, h('div.form-actions', null, h('a.cancel', { href: '#/requests' }, 'Cancel'), submit));
		form.addEventListener('change', () => {
			err.hidden = true;
		});
		form.addEventListener('submit', async (e) => {
			e.preventDefault();
			err.hidden = true;
			const u = uuid.value.trim().toLowerCase();
			const ipl = ips.value.split(/[\s,;]+/).filter(Boolean);
			const sf = sample.files && sample.files[0];
			const evf = Array.from(evidence.files || []);
			let problem = '';
			if (!UUID_RE.test(u)) problem = 'VM UUID: a domain UUID (8-4-4-4-12 hex digits).';
			else if (!ticket.value.trim()) problem = 'Ticket is required.';
			else if (!customer.value.trim()) problem = 'Customer is required.';
			else if (!ipl.length) problem = 'Sending IPs: at least one address.';
			else if (!sf) problem = 'Sample message: choose the .eml file.';
			else if (evf.length > REQ_EVIDENCE_MAX) problem = 'Evidence: at most ' + REQ_EVIDENCE_MAX + ' files.';
			if (problem) {
				err.textContent = problem;
				err.hidden = false;
				return;
			}
			submit.disabled = true;
			submit.textContent = 'Checking…';
			try {
				const names = evNames();
				const body = { uuid: u, ticket: ticket.value.trim(), customer: customer.value.trim(),
					consent_method: consent.value.trim(), ips: ipl,
					sample: await fileBody(sf, safeFileName(sf.name, 'sample.eml')) };
				if (signup.value.trim()) body.signup_url = signup.value.trim();
				if (unsub.value.trim()) body.unsubscribe_url = unsub.value.trim();
				if (evf.length) body.evidence = await Promise.all(evf.map((f, i) => fileBody(f, names[i])));
				readOperator(op, body);
				const r = await api('POST', '/v1/requests', body);
				if (!r || !REQ_ID_RE.test(String(r.id))) throw new Error('unexpected answer from POST /v1/requests');
				showMsg('Request #' + r.id + ' filed for ' + (r.name || u) + ': checks ' + (r.result || '?'), 'ok');
				location.hash = reqHref(r.id);
			} catch (x) {
				err.textContent = x.message || String(x);
				err.hidden = false;
			} finally {
				submit.disabled = false;
				submit.textContent = 'File request';
			}
		});
		append(s.body, [h('p.muted', null, 'The controller checks the sample, the URLs and the DNS of the sending IPs ' +
			'(doc/checks.md) before it stores the request; this can take a few seconds.'), form]);
		setTimeout(() => (uuid.value ? ticket : uuid).focus(), 0);
	}

	/* ---- start ----------------------------------------------------------------------------- */

	function init() {
		$('login-form').addEventListener('submit', (e) => {
			e.preventDefault();
			const t = $('login-token').value.trim();
			if (!t) {
				showLogin('Paste a token first.');
				return;
			}
			login(t);
		});
		$('logout').addEventListener('click', () => logout(''));
		$('msg-close').addEventListener('click', hideMsg);
		$('dialog-form').addEventListener('submit', dialogGo);
		$('dialog-cancel').addEventListener('click', closeDialog);
		$('dialog').addEventListener('close', () => {
			dialogSubmit = null;
		});
		window.addEventListener('hashchange', route);
		setInterval(tick, 1000);
		tick();
		let t = null;
		try {
			t = sessionStorage.getItem(TOKEN_KEY);
		} catch (e) { /* ignore */ }
		if (t) login(t);
		else showLogin('');
	}

	if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
	else init();
})();
