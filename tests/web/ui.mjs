// SPDX-License-Identifier: MIT
// The NOC dashboard in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core):
//
//   BASE_URL=http://127.0.0.1:18451 TOKEN_VIEWER=tw_... TOKEN_SUPPORT=tw_... \
//   VM_BLOCKED=uuid VM_APPROVE=uuid VM_FREE=uuid REQ_ID=n SHOT_DIR=dir node tests/web/ui.mjs
//
// As a viewer: the overview, a blocked VM's page (the hostile subject shows
// as text, no script ran, no action buttons), the whitelist (no forms or
// buttons), the whitelist requests (REQ_ID, pending for VM_FREE, with its
// checklist; no buttons or downloads), the live events.  As support:
// approve VM_APPROVE on the whitelist page, unblock VM_BLOCKED on its page;
// download REQ_ID's sample, approve it without force (refused: 409), reject
// it; file a new request for VM_BLOCKED through the form.  No console
// error, page error or CSP violation may occur.  One line per check ("PASS
// name", "FAIL name: why"); exit 1 if any failed.  Every wait is bounded.
import { chromium } from 'playwright-core';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const env = (k, def) => {
	const v = process.env[k] ?? def;
	if (v === undefined || v === '') {
		console.log(`FAIL setup: environment variable ${k} is required`);
		process.exit(2);
	}
	return v;
};
const BASE = env('BASE_URL').replace(/\/+$/, '');
const TOKEN_VIEWER = env('TOKEN_VIEWER');
const TOKEN_SUPPORT = env('TOKEN_SUPPORT');
const VM_BLOCKED = env('VM_BLOCKED').toLowerCase();
const VM_APPROVE = env('VM_APPROVE').toLowerCase();
const VM_FREE = env('VM_FREE').toLowerCase();     // REQ_ID's VM
const REQ_ID = env('REQ_ID');                     // a pending whitelist request whose checks fail
const SHOT_DIR = env('SHOT_DIR', '.');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT = 15000;
const XSS_SUBJECT = '<script>window.__xss=1</script>';
const TICKET = 'T-UI-1';
const REQ_TICKET = 'T-UI-REQ';
const TMP = mkdtempSync(path.join(tmpdir(), 'tw-ui-'));

let failed = 0;
const pass = (name) => console.log(`PASS ${name}`);
const fail = (name, why) => {
	failed++;
	console.log(`FAIL ${name}: ${String(why).replace(/\s+/g, ' ').slice(0, 400)}`);
};
// run one check: fn throws (or returns a string) to fail
async function check(name, fn) {
	try {
		const r = await fn();
		if (typeof r === 'string' && r) fail(name, r);
		else pass(name);
		return true;
	} catch (e) {
		fail(name, e && e.message ? e.message.split('\n')[0] : e);
		return false;
	}
}

mkdirSync(SHOT_DIR, { recursive: true });
const shot = (page, file) => check(`screenshot ${file}`, () =>
	page.screenshot({ path: path.join(SHOT_DIR, file), fullPage: false, timeout: WAIT }));

// the whole run is bounded too
const deadline = setTimeout(() => {
	console.log('FAIL timeout: the UI test took longer than 240 s');
	process.exit(1);
}, 240000);

const problems = []; // console errors, page errors, CSP violations
// the problems a check provokes on purpose: a problem matching every pattern
// of an entry is forgiven by the last check (when all console messages are in)
const expected = [];
const expectProblem = (...patterns) => expected.push(patterns);
let browser;
try {
	browser = await chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
		timeout: 30000,
	});
} catch (e) {
	console.log(`FAIL launch chromium (${CHROMIUM}): ${e.message.split('\n')[0]}`);
	process.exit(1);
}

async function newPage() {
	const ctx = await browser.newContext({ viewport: { width: 1920, height: 1080 }, deviceScaleFactor: 1 });
	const page = await ctx.newPage();
	page.setDefaultTimeout(WAIT);
	page.setDefaultNavigationTimeout(WAIT);
	await page.addInitScript(() => {
		document.addEventListener('securitypolicyviolation', (e) => {
			console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} ` +
				`(${e.sourceFile || ''}:${e.lineNumber || ''})`);
		});
	});
	page.on('console', (m) => {
		if (m.type() === 'error') problems.push(`console error: ${m.text()} ${m.location() && m.location().url || ''}`);
	});
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	page.on('response', (r) => {
		if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
	});
	return { ctx, page };
}

const tid = (id) => `[data-testid="${id}"]`;
const ACTIONS = 'button[data-testid^="btn-"]';

async function login(page, token, role) {
	await page.goto(BASE + '/', { waitUntil: 'domcontentloaded' });
	await page.locator(tid('login-token')).waitFor({ state: 'visible' });
	await page.fill(tid('login-token'), token);
	await page.click(tid('login-submit'));
	await page.locator(tid('whoami')).waitFor({ state: 'visible' });
	const who = (await page.locator(tid('whoami-role')).textContent()).trim();
	if (who !== role) throw new Error(`whoami shows role "${who}", expected ${role}`);
	const tokenKept = await page.evaluate(() => sessionStorage.getItem('tw_token'));
	if (tokenKept !== token) throw new Error('the token is not in sessionStorage');
}

async function goto(page, hash) {
	await page.evaluate((h) => { location.hash = h; }, hash);
}

// wait until the element's trimmed text is `is`, or includes `has`
const waitText = (page, id, { is = null, has = null }) => page.waitForFunction(([sel, is, has]) => {
	const el = document.querySelector(sel);
	if (!el) return false;
	const t = el.textContent.trim();
	return is !== null ? t === is : t.includes(has);
}, [tid(id), is, has], { timeout: WAIT });

// a check's failure when the view has support-only buttons: call it after
// waiting for something the view renders with (or after) its buttons
async function noActionButtons(page) {
	const ids = await page.locator(ACTIONS).evaluateAll((bs) => bs.map((b) => b.dataset.testid));
	if (ids.length) return `${ids.length} action buttons: ${ids.join(', ')}`;
}

// ---------------------------------------------------------------- viewer
{
	const { ctx, page } = await newPage();
	let ok = await check('viewer: log in (whoami shows name and role viewer)', () => login(page, TOKEN_VIEWER, 'viewer'));

	if (ok) {
		await check('viewer: overview status counters show numbers', async () => {
			for (const id of ['agents', 'vms', 'blocked', 'alerting', 'whitelist', 'pending']) {
				await page.waitForFunction((sel) => {
					const el = document.querySelector(sel);
					return el && /^\d[\d,]*$/.test(el.textContent.trim());
				}, tid('stat-' + id), { timeout: WAIT });
			}
			const blocked = Number((await page.locator(tid('stat-blocked')).textContent()).replace(/,/g, ''));
			if (!(blocked >= 1)) return `the Blocked counter is ${blocked}, expected at least 1`;
		});
		await check('viewer: the Blocked now table lists VM_BLOCKED', () =>
			page.locator(`${tid('blocked-table')} a[href="#/vm/${VM_BLOCKED}"]`).first().waitFor({ state: 'visible' }));
		await check('viewer: agents table and top senders render', async () => {
			await page.locator(`${tid('agents-table')} tbody tr`).first().waitFor();
			await page.locator(tid('top-messages-table')).waitFor();
			await page.locator(tid('top-rejected-table')).waitFor();
		});
		await check('viewer: no action buttons on the overview', () => noActionButtons(page));
		await page.waitForTimeout(300);
		await shot(page, 'overview.png');

		// the blocked VM
		await goto(page, '#/vm/' + encodeURIComponent(VM_BLOCKED));
		await check('viewer: VM page shows state blocked', () => waitText(page, 'vm-state', { is: 'blocked' }));
		await check('viewer: the evidence shows the hostile subject as text', async () => {
			await page.locator(tid('evidence')).waitFor();
			await page.waitForFunction((s) => document.body.innerText.includes(s), XSS_SUBJECT, { timeout: WAIT });
			const inEvidence = await page.locator(tid('evidence')).evaluate((el, s) => el.textContent.includes(s), XSS_SUBJECT);
			if (!inEvidence) return 'the subject is on the page but not in the evidence';
		});
		await check('viewer: no script from the evidence ran (window.__xss undefined, no injected elements)', async () => {
			const r = await page.evaluate(() => ({
				xss: typeof window.__xss,
				scripts: [...document.querySelectorAll('script')].map((s) => s.getAttribute('src')),
				imgs: document.querySelectorAll('main img, main iframe, main object, main embed').length,
			}));
			if (r.xss !== 'undefined') return `window.__xss is ${r.xss}`;
			if (r.scripts.some((s) => s !== '/ui/app.js')) return `unexpected script elements: ${JSON.stringify(r.scripts)}`;
			if (r.imgs) return `${r.imgs} img/iframe/object elements in the view`;
		});
		await check('viewer: VM page has charts, block and history', async () => {
			await page.locator(tid('block')).waitFor();
			await page.locator(`${tid('charts')}, ${tid('charts-empty')}`).first().waitFor();
			await page.locator(`${tid('history-table')}`).waitFor();
		});
		// the history table renders in the same pass as the action buttons
		await check('viewer: no action buttons on the VM page', () => noActionButtons(page));
		await shot(page, 'vm-viewer.png');

		// whitelist: read only
		await goto(page, '#/whitelist');
		await check('viewer: whitelist table renders without approve form or revoke buttons', async () => {
			await page.locator(tid('whitelist-table')).waitFor();
			if (await page.locator(tid('wl-approve-form')).count()) return 'an approve form';
			return noActionButtons(page);
		});

		// whitelist requests: read only
		await goto(page, '#/requests');
		await check(`viewer: the requests list shows request ${REQ_ID} as pending, for VM_FREE`, async () => {
			const row = page.locator(`${tid('requests-table')} tr[data-id="${REQ_ID}"]`);
			await row.waitFor();
			const st = (await row.locator(tid('request-state')).textContent()).trim();
			if (st !== 'pending') return `state "${st}"`;
			const href = await row.locator(tid('vm-link')).getAttribute('href');
			if (href !== '#/vm/' + VM_FREE) return `the VM links to ${href}`;
			const res = (await row.locator(tid('request-result')).textContent()).trim();
			if (res !== 'fail') return `result "${res}", the sample is meant to fail`;
		});
		await check('viewer: no New request button on the requests list', () => noActionButtons(page));
		await page.click(`${tid('requests-table')} tr[data-id="${REQ_ID}"] ${tid('request-link')}`);
		await check(`viewer: request ${REQ_ID} shows its checklist: a fail line with a reason and the DNS lines`, async () => {
			await page.waitForFunction((n) => location.hash === '#/requests/' + n, REQ_ID, { timeout: WAIT });
			await page.locator(`${tid('request-checks')} tbody tr[data-name]`).first().waitFor();
			const rows = await page.locator(`${tid('request-checks')} tbody tr[data-name]`).evaluateAll((trs) =>
				trs.map((tr) => ({ name: tr.dataset.name,
					status: tr.querySelector('[data-testid="check-status"]').textContent.trim(),
					reason: tr.lastElementChild.textContent.trim() })));
			const bad = rows.filter((r) => !['pass', 'warn', 'fail'].includes(r.status));
			if (bad.length) return `lines without a pass/warn/fail badge: ${JSON.stringify(bad)}`;
			const fails = rows.filter((r) => r.status === 'fail');
			if (!fails.length) return `no fail badge: ${JSON.stringify(rows)}`;
			if (fails.some((r) => !r.reason)) return `a fail line without a reason: ${JSON.stringify(fails)}`;
			const names = new Set(rows.map((r) => r.name));
			const missing = ['ptr', 'fcrdns', 'spf', 'dmarc', 'dkim_key', 'list_unsubscribe', 'html_content']
				.filter((n) => !names.has(n));
			if (missing.length) return `no lines ${missing.join(', ')} (have ${[...names].join(', ')})`;
			const st = (await page.locator(tid('req-state')).textContent()).trim();
			const res = (await page.locator(tid('req-result')).textContent()).trim();
			if (st !== 'pending' || res !== 'fail') return `state ${st}, result ${res}`;
		});
		await check('viewer: the request lists the sample with size and SHA-256, without a download', async () => {
			const row = page.locator(`${tid('request-files')} tr[data-file="sample"]`);
			await row.waitFor();
			const size = (await row.locator(tid('file-size')).textContent()).trim();
			if (!/^\d+(\.\d)? (B|KiB|MiB)$/.test(size)) return `size "${size}"`;
			const sha = (await row.locator(tid('file-sha256')).textContent()).trim();
			if (!/^[0-9a-f]{64}$/.test(sha)) return `SHA-256 "${sha}"`;
		});
		// the files table renders in the same pass as the action buttons
		await check('viewer: no approve, reject, recheck or download buttons on the request', () => noActionButtons(page));
		await shot(page, 'request-viewer.png');
		await goto(page, '#/requests/new');
		await check('viewer: the new-request page shows no form', async () => {
			await page.locator(tid('req-form-denied')).waitFor();
			if (await page.locator(tid('req-form')).count()) return 'the form is there';
		});

		// events
		await goto(page, '#/events');
		await check('viewer: the events timeline shows an event within 10 s (live)', async () => {
			await page.locator(`${tid('events-list')} ${tid('event')}`).first().waitFor({ timeout: 10000 });
			await page.waitForFunction((sel) => document.querySelector(sel).textContent.trim() === 'live',
				tid('feed-state'), { timeout: 10000 });
		});
		await shot(page, 'events.png');

		await check('viewer: log out returns to the login form and forgets the token', async () => {
			await page.click(tid('logout'));
			await page.locator(tid('login-token')).waitFor({ state: 'visible' });
			const t = await page.evaluate(() => sessionStorage.getItem('tw_token'));
			if (t !== null) return 'the token is still in sessionStorage';
		});
	}

	// a wrong token: back to the login form with a message
	await check('a wrong token is refused with a message', async () => {
		await page.fill(tid('login-token'), 'tw_not_a_token');
		await page.click(tid('login-submit'));
		await page.locator(tid('login-error')).waitFor({ state: 'visible' });
		const msg = await page.locator(tid('login-error')).textContent();
		if (!/401/.test(msg)) return `message "${msg}" does not mention 401`;
		// the refused request is the point of this check, not a problem
		expectProblem(/\b401\b/, /\/v1\/whoami\s*$/);
	});

	// ------------------------------------------------------------ support
	ok = await check('support: log in (role support)', () => login(page, TOKEN_SUPPORT, 'support'));
	if (ok) {
		await goto(page, '#/whitelist');
		await check(`support: approve ${VM_APPROVE} on the whitelist page (ticket ${TICKET})`, async () => {
			const form = page.locator(tid('wl-approve-form'));
			await form.waitFor();
			await page.fill(tid('wl-uuid'), VM_APPROVE);
			await page.fill(tid('wl-customer'), 'C-UI');
			await page.fill(tid('wl-ticket'), TICKET);
			await page.fill(tid('wl-reason'), 'ui test: newsletter');
			await page.selectOption(tid('wl-expiry'), String(7 * 86400));
			await page.click(tid('btn-whitelist-approve'));
			const row = page.locator(`${tid('whitelist-table')} tr[data-uuid="${VM_APPROVE}"]`);
			await row.waitFor({ timeout: WAIT });
			const text = await row.textContent();
			if (!text.includes(TICKET)) return `the new row lacks the ticket: ${text}`;
			const err = await page.locator(tid('wl-error')).isVisible();
			if (err) return 'the form shows an error: ' + (await page.locator(tid('wl-error')).textContent());
		});
		await check('support: whitelist rows have revoke buttons', async () => {
			const n = await page.locator(`${tid('whitelist-table')} button${tid('btn-revoke')}`).count();
			if (!n) return 'no revoke buttons';
		});
		await shot(page, 'whitelist.png');

		await goto(page, '#/vm/' + encodeURIComponent(VM_BLOCKED));
		await check(`support: unblock ${VM_BLOCKED} from its page`, async () => {
			await waitText(page, 'vm-state', { is: 'blocked' });
			await page.click(tid('btn-unblock'));
			await page.locator(tid('dlg-reason')).waitFor({ state: 'visible' });
			await page.fill(tid('dlg-reason'), 'ui test');
			await page.click(tid('dialog-submit'));
			await page.waitForFunction((sel) => {
				const el = document.querySelector(sel);
				return el && el.textContent.trim() !== '' && el.textContent.trim() !== 'blocked';
			}, tid('vm-state'), { timeout: WAIT });
			await page.locator(`button${tid('btn-block')}`).waitFor({ timeout: WAIT });
		});
		await check('support: the unblock is in the VM history', () => waitText(page, 'history-table', { has: 'ui test' }));
		await shot(page, 'vm-support.png');

		// whitelist requests
		await goto(page, '#/requests/' + REQ_ID);
		await check(`support: request ${REQ_ID} has Approve, Reject and Recheck`, async () => {
			for (const b of ['btn-approve', 'btn-reject', 'btn-recheck'])
				await page.locator(`button${tid(b)}`).waitFor({ state: 'visible' });
		});
		await check('support: download the sample (an attachment; its bytes have the listed SHA-256)', async () => {
			const row = page.locator(`${tid('request-files')} tr[data-file="sample"]`);
			const sha = (await row.locator(tid('file-sha256')).textContent()).trim();
			const [dl] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }),
				row.locator(tid('btn-download')).click()]);
			const file = path.join(TMP, 'download.eml');
			await dl.saveAs(file);
			const got = createHash('sha256').update(readFileSync(file)).digest('hex');
			if (got !== sha) return `downloaded ${got}, listed ${sha}`;
			if (!/\.eml$/.test(dl.suggestedFilename())) return `saved as ${dl.suggestedFilename()}`;
			// a download, not a page showing the file
			if (ctx.pages().length !== 1) return `${ctx.pages().length} pages: the file was opened`;
			const hash = await page.evaluate(() => location.hash);
			if (hash !== '#/requests/' + REQ_ID) return `the page went to ${hash}`;
		});
		await check('support: Approve without force is refused, the dialog shows the 409 and the failed checks', async () => {
			await page.click(tid('btn-approve'));
			await page.locator(tid('dlg-reason')).waitFor({ state: 'visible' });
			if (!(await page.locator(tid('dlg-force')).isVisible())) return 'no force checkbox for a failed request';
			await page.fill(tid('dlg-reason'), 'ui test: approve without force');
			await page.click(tid('dialog-submit'));
			const err = page.locator('#dialog-error');
			await err.waitFor({ state: 'visible' });
			const text = await err.textContent();
			// the refused approval is the point of this check, not a problem
			expectProblem(/\b409\b/, /\/v1\/requests\/\d+\/approve\s*$/);
			if (!/409/.test(text) || !/checks failed/.test(text)) return `dialog error "${text}"`;
			if (!(await page.locator(tid('dialog')).isVisible())) return 'the dialog closed';
			await page.screenshot({ path: path.join(SHOT_DIR, 'request-approve-refused.png'), timeout: WAIT });
			await page.click(tid('dialog-cancel'));
			const st = (await page.locator(tid('req-state')).textContent()).trim();
			if (st !== 'pending') return `state ${st} after the refusal`;
		});
		await check('support: Reject with a reason turns the request rejected', async () => {
			await page.click(tid('btn-reject'));
			await page.locator(tid('dlg-reason')).waitFor({ state: 'visible' });
			await page.fill(tid('dlg-reason'), 'ui test: the sample fails');
			await page.click(tid('dialog-submit'));
			await waitText(page, 'req-state', { is: 'rejected' });
			await waitText(page, 'req-decision-reason', { has: 'ui test: the sample fails' });
			const n = await page.locator(`${tid('btn-approve')}, ${tid('btn-reject')}, ${tid('btn-recheck')}`).count();
			if (n) return `${n} decision buttons left on a rejected request`;
		});
		await shot(page, 'request-support.png');
		await goto(page, '#/requests?state=rejected');
		await check(`support: the rejected filter lists request ${REQ_ID}`, async () => {
			const row = page.locator(`${tid('requests-table')} tr[data-id="${REQ_ID}"]`);
			await row.waitFor();
			const st = (await row.locator(tid('request-state')).textContent()).trim();
			if (st !== 'rejected') return `state "${st}"`;
		});

		// a new request through the form, for VM_BLOCKED (no request yet)
		const sampleFile = path.join(TMP, 'newsletter sample.eml');
		writeFileSync(sampleFile, ['From: Shop News <news@shop.example>', 'To: subscriber@example.net',
			'Subject: Our December selection', 'Date: Thu, 03 Dec 2026 10:00:00 +0000',
			'Message-ID: <20261203.42@mail.shop.example>',
			'List-Unsubscribe: <https://shop.example/unsubscribe/u42>',
			'List-Unsubscribe-Post: List-Unsubscribe=One-Click', 'List-Id: Shop News <news.shop.example>',
			'Precedence: bulk', 'MIME-Version: 1.0', 'Content-Type: text/html; charset=utf-8', '',
			'<html><body><p>Hello! <a href="https://shop.example/december">December</a>.</p>',
			'<p>You receive this because you subscribed at shop.example.</p>',
			'<p><a href="https://shop.example/unsubscribe/u42">Unsubscribe</a></p></body></html>', ''].join('\r\n'));
		const evidenceFile = path.join(TMP, 'signup-form.png');
		writeFileSync(evidenceFile, Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));
		await page.click(tid('nav-requests'));
		await check('support: the requests list has a New request button that opens the form', async () => {
			await page.click(tid('btn-new-request'));
			await page.locator(tid('req-form')).waitFor();
		});
		await goto(page, '#/requests/new?uuid=' + VM_BLOCKED);
		let newId = null;
		await check(`support: file a request for ${VM_BLOCKED} through the form; it lands on its detail page`, async () => {
			await page.waitForFunction((u) => {
				const el = document.querySelector('[data-testid="req-uuid"]');
				return el && el.value === u;
			}, VM_BLOCKED, { timeout: WAIT });
			await page.fill(tid('req-ticket'), REQ_TICKET);
			await page.fill(tid('req-customer'), 'C-UI-REQ');
			await page.fill(tid('req-consent'), 'double opt-in: sign-up form, then a confirmation link');
			await page.fill(tid('req-signup'), 'https://shop.example/newsletter');
			await page.fill(tid('req-unsub'), 'https://shop.example/unsubscribe/u42');
			await page.fill(tid('req-ips'), '198.18.7.2, 198.18.7.200');
			// no sample yet: the form says so and files nothing
			await page.click(tid('req-submit'));
			await page.locator(tid('req-error')).waitFor({ state: 'visible' });
			const e1 = await page.locator(tid('req-error')).textContent();
			if (!/sample/i.test(e1)) return `without a sample the form says "${e1}"`;
			await page.setInputFiles(tid('req-sample'), sampleFile);
			await page.setInputFiles(tid('req-evidence'), [evidenceFile]);
			await page.locator(`${tid('req-evidence-list')} li`).first().waitFor();
			await page.screenshot({ path: path.join(SHOT_DIR, 'request-form.png'), timeout: WAIT });
			await page.click(tid('req-submit'));
			await page.waitForFunction((old) => /^#\/requests\/\d+$/.test(location.hash) &&
				location.hash !== '#/requests/' + old, REQ_ID, { timeout: 20000 });
			newId = (await page.evaluate(() => location.hash)).split('/').pop();
			await waitText(page, 'req-state', { is: 'pending' });
			const ticket = (await page.locator(tid('req-ticket')).textContent()).trim();
			if (ticket !== REQ_TICKET) return `ticket "${ticket}"`;
			const ips = (await page.locator(tid('req-ips')).textContent()).trim();
			if (ips !== '198.18.7.2, 198.18.7.200') return `IPs "${ips}"`;
			await page.locator(`${tid('request-files')} tr[data-file="signup-form.png"]`).waitFor();
			const sname = (await page.locator(`${tid('request-files')} tr[data-file="sample"] ${tid('file-name')}`)
				.textContent()).trim();
			if (sname !== 'newsletter_sample.eml') return `the sample is named "${sname}"`;
			const vm = await page.locator(tid('req-vm')).getAttribute('href');
			if (vm !== '#/vm/' + VM_BLOCKED) return `the VM links to ${vm}`;
			await page.locator(`${tid('request-checks')} tbody tr[data-name="spf"]`).first().waitFor();
		});
		if (newId) {
			await shot(page, 'request-new.png');
			await check(`support: a second request for ${VM_BLOCKED} is refused inline (409, still pending)`, async () => {
				await goto(page, '#/requests/new?uuid=' + VM_BLOCKED);
				await page.locator(tid('req-form')).waitFor();
				await page.fill(tid('req-ticket'), REQ_TICKET + '-2');
				await page.fill(tid('req-customer'), 'C-UI-REQ');
				await page.fill(tid('req-ips'), '198.18.7.2');
				await page.setInputFiles(tid('req-sample'), sampleFile);
				await page.click(tid('req-submit'));
				await page.locator(tid('req-error')).waitFor({ state: 'visible', timeout: 20000 });
				const text = await page.locator(tid('req-error')).textContent();
				expectProblem(/\b409\b/, /\/v1\/requests\s*$/);
				if (!/409/.test(text) || !text.includes('request ' + newId)) return `form error "${text}"`;
			});
		}
	}

	await check('no console errors, page errors, failed requests or CSP violations', () => {
		const left = problems.filter((p) => !expected.some((pats) => pats.every((re) => re.test(p))));
		if (left.length) return `${left.length}: ${left.slice(0, 5).join(' | ')}`;
	});
	await ctx.close();
}

await browser.close();
rmSync(TMP, { recursive: true, force: true });
clearTimeout(deadline);
console.log(failed ? `ui: ${failed} check(s) failed` : 'ui: all checks passed');
process.exit(failed ? 1 : 0);
