// Depth Tools: the EXR tab's cuts answered by the tab's own route, without a gradio event.
//
// A gradio event re-renders the WebUI's whole page two or three times before the new preview shows
// (~80 ms each in Forge: issue 22), so the suggested-cut buttons, clicks on the histogram and the
// typed numbers (cutoff, field of view, seed) are sent here to POST /depth-tools/tab/exr/preview
// (lib_depth/ui/fast_preview.py) with the controls the page shows, and the answer's images, status
// and cutoff are set in the page. A typed number is sent once per change (Enter, or leaving the
// box). Where gradio's own values must follow (downloads made with another cutoff, an image gradio
// has not drawn yet) the hidden `sync` button runs the tab's gradio event afterwards: the preview
// is already on screen. *Make* clicked while a request is on its way waits for its answer. The
// Image sub-tab's typed seed clicks that tab's hidden commit button, once per change. The WebUI loads every file in javascript/; the standalone tab loads this
// one itself (lib_depth/ui/app.py).

(function () {
    'use strict';

    if (window.depthToolsTab) return;
    const PREFIX = 'depth_tools_exr_';
    const TYPED = {cutoff: 'typed', fov: 'controls', seed: 'controls'};
    // Boxes of other sub-tabs whose typed value is entered by clicking their hidden commit button
    // (lib_depth/ui/controls.py commit_button): one gradio event per change, not two.
    const COMMITS = {depth_tools_midas_seed: 'depth_tools_midas_commit'};
    const IMAGES = {chart: 'chart', depth: 'depth', normal: 'normal_preview', mask: 'mask_preview'};
    const committed = new WeakMap(); // number input -> the value last sent (or shown) for it
    let sent = 0; // the latest request: older answers are dropped
    let inflight = null; // settles once the server has answered the latest request

    function app() {
        return typeof gradioApp === 'function' ? gradioApp() : document;
    }

    function part(name) {
        return app().querySelector('#' + PREFIX + name);
    }

    function route() {
        const root = (window.gradio_config && window.gradio_config.root) || '';
        return root.replace(/\/+$/, '') + '/depth-tools/tab/exr/preview';
    }

    function viewKey() {
        const tag = part('view_tag');
        const span = tag && tag.querySelector('[data-depth-tools-view]');
        return span ? span.getAttribute('data-depth-tools-view') : null;
    }

    // The controls as the page shows them; one the page does not hold is left to the server's default.
    function controls() {
        const out = {};
        for (const name of ['compress', 'invert', 'mask', 'noise', 'normal']) {
            const box = part(name);
            const input = box && box.querySelector('input[type=checkbox]');
            if (input) out[name] = input.checked;
        }
        for (const name of ['bits', 'depth_is']) {
            const box = part(name);
            const input = box && box.querySelector('input[type=radio]:checked');
            if (input) out[name] = input.value;
        }
        for (const name of ['seed', 'fov']) {
            const input = numberInput(name);
            if (input) out[name] = input.value;
        }
        return out;
    }

    function numberInput(name) {
        const box = part(name);
        return box && box.querySelector('input[type=number]');
    }

    // Resolves when the new picture can be painted; null when gradio has not drawn it (gradio does it).
    function setImage(name, src) {
        if (!src) return Promise.resolve(true); // nothing new (an error keeps the last good preview)
        const box = part(name);
        const img = box && box.querySelector('img');
        if (!img || box.offsetParent === null) return null;
        img.src = src;
        return img.decode().then(() => true, () => true);
    }

    function setStatus(html) {
        const box = part('status');
        const shown = box && box.querySelector('.dt-status');
        if (!shown) return false;
        shown.parentElement.innerHTML = html;
        return true;
    }

    // The cutoff box shows the cutoff in force; gradio's value follows through the input event.
    function setCutoff(value) {
        const input = numberInput('cutoff');
        if (!input) return;
        const text = value === null || value === undefined ? '' : String(value);
        if (input.value !== text) {
            input.value = text;
            input.dispatchEvent(new Event('input', {bubbles: true}));
        }
        committed.set(input, text);
    }

    function downloadsShown() {
        const box = part('downloads');
        return !!(box && box.querySelector('a, tbody tr'));
    }

    function sync() {
        const button = part('sync');
        if (button) button.click();
    }

    async function post(body) {
        const response = await fetch(route(), {
            method: 'POST',
            headers: {'Content-Type': 'application/json'},
            body: JSON.stringify(body),
        });
        const answer = await response.json();
        if (!response.ok) throw new Error(answer.detail || response.statusText);
        return answer;
    }

    async function preview(action, extra) {
        const view = viewKey();
        if (!view) return;
        const ticket = ++sent;
        const request = post({view, action, controls: controls(), ...extra});
        const pending = inflight = request.then(() => null, () => null);
        let answer;
        try {
            answer = await request;
        } catch (error) {
            console.warn('Depth Tools: preview through the tab\'s route failed, using gradio:', error);
            if (ticket === sent) sync();
            return;
        } finally {
            if (inflight === pending) inflight = null;
        }
        if (ticket !== sent || !answer.changed) return;
        const images = Object.entries(IMAGES).map(([name, id]) => setImage(id, answer[name]));
        // The rest once the pictures are decoded: the status's new nodes and the box's input event
        // set a WebUI's page-wide update callbacks and gradio's re-render going, which would hold
        // the new preview back (Forge: ~70 ms).
        await Promise.all(images.filter((shown) => shown !== null));
        if (ticket !== sent) return;
        const drawn = setStatus(answer.status) && !images.includes(null);
        if (action !== 'controls' && !(action === 'typed' && answer.cutoff === null)) setCutoff(answer.cutoff);
        if (!drawn || (answer.stale && downloadsShown())) setTimeout(sync, 0);
    }

    // *Make* after a cut or a typed value (leaving the box enters it): gradio's event waits until
    // the server has that cutoff, so the maps are made with it.
    function holdMake(event, button) {
        if (!inflight) return false;
        event.stopImmediatePropagation();
        event.preventDefault();
        const go = () => (inflight ? inflight.then(go) : button.click());
        inflight.then(go);
        return true;
    }

    function onClick(event) {
        const path = event.composedPath ? event.composedPath() : [event.target];
        for (const node of path) {
            if (!node || !node.id) continue;
            if (node.id === 'depth_tools_make') return holdMake(event, node);
            const cut = node.id.match(/^depth_tools_exr_cut_(\d+)$/);
            if (cut) return preview('cut', {index: Number(cut[1])});
            if (node.id === PREFIX + 'no_cut') return preview('no_cut', {});
            if (node.id === PREFIX + 'chart' && event.target.tagName === 'IMG') return chartClick(event);
        }
    }

    // The picture's own pixel under the pointer (it is shown scaled, letterboxed by object-fit).
    function chartClick(event) {
        const img = event.target;
        const rect = img.getBoundingClientRect();
        const scale = Math.min(rect.width / img.naturalWidth, rect.height / img.naturalHeight) || 1;
        const left = (rect.width - img.naturalWidth * scale) / 2;
        const top = (rect.height - img.naturalHeight * scale) / 2;
        const x = (event.clientX - rect.left - left) / scale;
        const y = (event.clientY - rect.top - top) / scale;
        return preview('chart', {x, y});
    }

    function typedName(input) {
        if (!input || input.tagName !== 'INPUT') return null;
        for (const name of Object.keys(TYPED)) if (numberInput(name) === input) return name;
        for (const id of Object.keys(COMMITS)) if (input.closest('#' + id)) return id;
        return null;
    }

    // Enter, or leaving the box, enters the value: once per change.
    function commit(event) {
        const input = event.composedPath ? event.composedPath()[0] : event.target;
        const name = typedName(input);
        if (!name || (event.type === 'keydown' && event.key !== 'Enter')) return;
        if (committed.get(input) === input.value) return;
        committed.set(input, input.value);
        if (name in COMMITS) {
            const button = app().querySelector('#' + COMMITS[name]);
            if (button) button.click();
            return;
        }
        preview(TYPED[name], name === 'cutoff' ? {cutoff: input.value} : {});
    }

    // What a box holds when the user comes to it counts as entered (gradio may have set it since).
    function remember(event) {
        const input = event.composedPath ? event.composedPath()[0] : event.target;
        if (typedName(input)) committed.set(input, input.value);
    }

    document.addEventListener('click', onClick, true);
    document.addEventListener('focusin', remember, true);
    document.addEventListener('keydown', commit, true);
    document.addEventListener('change', commit, true);
    window.depthToolsTab = {preview};
})();
