// SPDX-License-Identifier: MIT
// The NOC dashboard in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core):
//
//   BASE_URL=http://127.0.0.1:18451 TOKEN_VIEWER=tw_... TOKEN_SUPPORT=tw_... \
//   VM_BLOCKED=uuid VM_APPROVE=uuid SHOT_DIR=dir node tests/web/ui.mjs
//
// As a viewer: the overview, a blocked VM's page (the hostile subject shows
// as text, no script ran, no action buttons), the whitelist (no forms or
// buttons), the live events.  As support: approve VM_APPROVE on the
// whitelist page, unblock VM_BLOCKED on its page.  No console error, page
// error or CSP violation may occur.  One line per check ("PASS name",
// "FAIL name: why"); exit 1 if any failed.  Every wait is bounded.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
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
const SHOT_DIR = env('SHOT_DIR', '.');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT = 15000;
const XSS_SUBJECT = '<script>window.__xss=1</script>';
const TICKET = 'T-UI-1';

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
		await check('viewer: no action buttons on the overview', async () => {
			const n = await page.locator(ACTIONS).count();
			if (n) return `${n} action buttons`;
		});
		await page.waitForTimeout(300);
		await shot(page, 'overview.png');

		// the blocked VM
		await goto(page, '#/vm/' + encodeURIComponent(VM_BLOCKED));
		await check('viewer: VM page shows state blocked', () =>
			page.waitForFunction((sel) => {
				const el = document.querySelector(sel);
				return el && el.textContent.trim() === 'blocked';
			}, tid('vm-state'), { timeout: WAIT }));
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
		await check('viewer: no action buttons on the VM page', async () => {
			await page.waitForTimeout(500);
			const n = await page.locator(ACTIONS).count();
			if (n) return `${n} action buttons: ${(await page.locator(ACTIONS).evaluateAll((b) => b.map((x) => x.dataset.testid))).join(',')}`;
		});
		await shot(page, 'vm-viewer.png');

		// whitelist: read only
		await goto(page, '#/whitelist');
		await check('viewer: whitelist table renders without approve form or revoke buttons', async () => {
			await page.locator(tid('whitelist-table')).waitFor();
			const forms = await page.locator(tid('wl-approve-form')).count();
			const btns = await page.locator(ACTIONS).count();
			if (forms || btns) return `approve forms: ${forms}, action buttons: ${btns}`;
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
		await page.waitForTimeout(300);
		for (let i = problems.length - 1; i >= 0; i--)
			if (/\b401\b/.test(problems[i])) problems.splice(i, 1);
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
			await page.waitForFunction((sel) => {
				const el = document.querySelector(sel);
				return el && el.textContent.trim() === 'blocked';
			}, tid('vm-state'), { timeout: WAIT });
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
		await check('support: the unblock is in the VM history', () =>
			page.waitForFunction((sel) => {
				const el = document.querySelector(sel);
				return el && el.textContent.includes('ui test');
			}, tid('history-table'), { timeout: WAIT }));
		await shot(page, 'vm-support.png');
	}

	await check('no console errors, page errors, failed requests or CSP violations', () => {
		if (problems.length) return `${problems.length}: ${problems.slice(0, 5).join(' | ')}`;
	});
	await ctx.close();
}

await browser.close();
clearTimeout(deadline);
console.log(failed ? `ui: ${failed} check(s) failed` : 'ui: all checks passed');
process.exit(failed ? 1 : 0);
