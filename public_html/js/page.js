/*
 * page.js — the bits every rtlab page shares: which channel, showing a
 * message, the request/event log, and the send box.  The real-time code
 * itself is in each page, where a student reads it.
 *
 * Safety: message fields are only ever put into the page with textContent,
 * never innerHTML, so a text like <img src=x onerror=alert(1)> shows as
 * those characters and runs nothing.
 */
import { sendMessage } from './rtclient.js';

/* The channel from ?channel=, if it is a valid name (docs/protocol.md), else lobby. */
export function pageChannel() {
	const c = new URLSearchParams(location.search).get('channel');
	return c && /^[A-Za-z0-9_-]{1,64}$/.test(c) ? c : 'lobby';
}

/* Appends one message to a <ul>/<ol>, newest at the bottom, at most keep. */
export function showMessage(list, msg, keep = 300) {
	const item = document.createElement('li');
	item.dataset.id = msg.id;
	const who = document.createElement('span');
	who.className = 'user';
	who.textContent = msg.user;
	const text = document.createElement('span');
	text.className = 'text';
	text.textContent = msg.text;
	item.title = `#${msg.id} via ${msg.via} at ${new Date(msg.ts).toLocaleTimeString()}`;
	item.append(who, text);
	const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
	list.append(item);
	while (list.children.length > keep) list.firstElementChild.remove();
	if (stick) list.scrollTop = list.scrollHeight;
}

/* A log pane: log('GET poll.fcgi → 200', 'ok' | 'err' | 'info'). */
export function makeLog(pre, keep = 200) {
	return (line, kind = 'info') => {
		const row = document.createElement('div');
		row.className = kind;
		const time = new Date().toISOString().slice(11, 23);
		row.textContent = `${time}  ${line}`;
		pre.append(row);
		while (pre.children.length > keep) pre.firstElementChild.remove();
		pre.scrollTop = pre.scrollHeight;
	};
}

/*
 * Wires a send box: a <form> with inputs named user and text, and an element
 * .status for what happened.  send(user, text) defaults to a POST to
 * send.fcgi; the WebSocket page passes its own.  Errors show in words.
 */
export function setupSendBox(form, channel, send) {
	const status = form.querySelector('.status');
	send = send || ((user, text) => sendMessage({ channel, user, text }));
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const user = form.elements.user.value || 'anon';
		const text = form.elements.text.value;
		try {
			await send(user, text);
			status.textContent = '';
			status.className = 'status';
			form.elements.text.value = '';
		} catch (err) {
			status.textContent = `Not sent: ${err.message}`;
			status.className = 'status err';
		}
	});
}

/*
 * The common start of a technique page: reads the channel, and fills
 * <main id="chat"> with the message list (#messages), the log (#log, headed
 * logTitle) and the send box (#send; user is the default name, send as in
 * setupSendBox).
 */
export function setupPage({ logTitle = 'Log', user = 'anon', send } = {}) {
	const channel = pageChannel();
	keepChannelInLinks(channel);
	const list = element('ul', { id: 'messages', className: 'messages' });
	const logPane = element('div', { id: 'log', className: 'log' });
	const form = element('form', { id: 'send', className: 'send' },
		element('input', { name: 'user', placeholder: 'name', maxLength: 32, value: user }),
		element('input', { name: 'text', placeholder: 'message', required: true }),
		element('button', {}, 'Send'),
		element('span', { className: 'status' }));
	document.getElementById('chat').append(
		element('div', { className: 'columns' },
			element('section', {}, element('h2', {}, 'Messages'), list),
			element('section', {}, element('h2', {}, logTitle), logPane)),
		form);
	setupSendBox(form, channel, send);
	return { channel, list, log: makeLog(logPane) };
}

function element(tag, properties, ...children) {
	const e = Object.assign(document.createElement(tag), properties);
	e.append(...children);
	return e;
}

/* ?channel= carried over to the links between pages. */
export function keepChannelInLinks(channel) {
	for (const a of document.querySelectorAll('nav a')) {
		const url = new URL(a.href);
		if (channel !== 'lobby') url.searchParams.set('channel', channel);
		a.href = url;
	}
	document.querySelector('.channel').textContent = channel;
}
