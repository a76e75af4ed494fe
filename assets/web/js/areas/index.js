// The areas of the web client, in the order the navigation shows them. An
// area is a module whose default export is {id, title, render}:
//
//   render(root, ctx) fills root (the page's <main>) and keeps it up to date
//   until ctx.signal aborts, when the user leaves the area. ctx holds
//   api (the control API), node (a Value with the node's status), uptime()
//   (seconds, on the node's clock), events (the live EventStream) and signal.
//
// The area is reached at #/ID. Adding an area is one module and one line here.
import browse from './browse.js';
import library from './library.js';
import mail from './mail.js';
import names from './names.js';
import network from './network.js';
import node from './node.js';
import settings from './settings.js';
import watch from './watch.js';

export const areas = [node, library, watch, network, names, mail, browse, settings];
