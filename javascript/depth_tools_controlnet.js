// Depth Tools: send a full-size map to a ControlNet unit (sd-webui-controlnet 1.1.4xx in A1111, and
// the ControlNet built into Forge). The WebUI loads every file in javascript/ into its page.
//
// ControlNet's unit image is no paste target of the WebUI, so this does what a user does: switch to
// the tab, open the ControlNet accordion and the unit, drop the PNG on the unit's file input (the
// exact bytes, fetched from the file the tab wrote), tick Enable, choose the Control Type, then the
// preprocessor `none` (the map already is one) and a model of that kind when one is listed.
// The ids and classes are those of ControlNet's own trees (see docs/hosts.md); the same
// DataTransfer + change event is how ControlNet's photopea and openpose editors set images.

(function () {
    'use strict';

    const WAIT_MS = 5000;

    function app() {
        return typeof gradioApp === 'function' ? gradioApp() : document;
    }

    function sleep(ms) {
        return new Promise((resolve) => setTimeout(resolve, ms));
    }

    async function waitFor(test, ms = WAIT_MS) {
        const end = Date.now() + ms;
        for (;;) {
            const value = test();
            if (value) return value;
            if (Date.now() > end) return null;
            await sleep(50);
        }
    }

    function visible(element) {
        return !!element && element.offsetParent !== null;
    }

    function switchTo(tab) {
        if (tab === 'img2img' && typeof switch_to_img2img === 'function') return switch_to_img2img();
        if (tab === 'txt2img' && typeof switch_to_txt2img === 'function') return switch_to_txt2img();
        const buttons = app().querySelectorAll('#tabs > .tab-nav > button, #tabs > div > button');
        const wanted = Array.from(buttons).find((b) => b.textContent.trim() === tab);
        if (wanted) wanted.click();
    }

    // A gradio accordion (3.41 and 4.x): its header is `.label-wrap`, which has the class `open` when open.
    async function openAccordion(accordion) {
        if (!accordion) return;
        const header = accordion.querySelector(':scope > .label-wrap, :scope > button.label-wrap');
        if (header && !header.classList.contains('open')) {
            header.click();
            await waitFor(() => header.classList.contains('open'), 1000);
        }
    }

    // Mikubill: the unit is a tab of `#{tab}_controlnet_tabs`; Forge: an InputAccordion.
    async function openUnit(enable, root, unit) {
        const tabItem = enable.closest('.cnet-unit-tab');
        if (tabItem) {
            const nav = root.querySelector('.tab-nav');
            const button = nav ? nav.querySelectorAll('button')[unit] : null;
            if (button && !button.classList.contains('selected')) button.click();
            await waitFor(() => visible(enable), 1000);
            return;
        }
        await openAccordion(enable.closest('.input-accordion'));
    }

    async function fetchPng(url) {
        const reply = await fetch(url);
        if (!reply.ok) throw new Error(`cannot read the map (${reply.status})`);
        return await reply.blob();
    }

    function fileUrl(file) {
        // gradio 3: {name, data: URL, is_file}; gradio 4: {path, url}; or a plain URL / data URL.
        if (Array.isArray(file)) file = file[0];
        if (!file) return null;
        if (typeof file === 'string') return file;
        return file.url || file.data || (file.name ? `file=${file.name}` : null);
    }

    function fileName(file, kind) {
        if (Array.isArray(file)) file = file[0];
        const name = file && (file.orig_name || file.name || file.path);
        return name ? String(name).split(/[\\/]/).pop() : `depth_tools.${kind}.png`;
    }

    // A user's upload: the file on the input, then the change event gradio (or Forge's canvas) reads.
    function setFile(input, file) {
        const transfer = new DataTransfer();
        transfer.items.add(file);
        input.files = transfer.files;
        input.dispatchEvent(new Event('change', {bubbles: true, composed: true}));
    }

    async function imageInput(unitId) {
        const holder = app().querySelector(`#${unitId}_input_image`);
        if (!holder) return null;
        let input = holder.querySelector('input[type=file]');
        if (!input) {
            // gradio 3's image shows no file input while it holds an image: clear it first
            const clear = holder.querySelector('button[aria-label="Clear"], button[title="Clear"]');
            if (clear) clear.click();
            input = await waitFor(() => holder.querySelector('input[type=file]'), 2000);
        }
        return input;
    }

    function dropdownValue(dropdown) {
        const input = dropdown && dropdown.querySelector('input');
        return input ? input.value : null;
    }

    // gradio 3.41 puts the value in data-value, 4.x in aria-label (its text has a check mark too).
    function optionValue(li) {
        const value = li.getAttribute('data-value') ?? li.getAttribute('aria-label');
        return value !== null ? value : li.textContent.replace('\u2713', '').trim();
    }

    // A gradio 3.41 / 4.x dropdown: focus its input to list the options, then press one.
    async function choose(dropdown, test) {
        const input = dropdown && dropdown.querySelector('input');
        if (!input || input.disabled) return null;
        if (test(input.value)) return input.value;
        input.focus();
        input.dispatchEvent(new MouseEvent('mousedown', {bubbles: true}));
        input.dispatchEvent(new MouseEvent('click', {bubbles: true}));
        const items = await waitFor(() => {
            const found = dropdown.querySelectorAll('ul.options li');
            return found.length ? found : null;
        }, 2000);
        const item = items && Array.from(items).find((li) => test(optionValue(li)));
        if (item) item.dispatchEvent(new MouseEvent('mousedown', {bubbles: true}));
        input.blur();
        if (!item) return null;
        return await waitFor(() => (test(input.value) ? input.value : null), 1000);
    }

    async function chooseControlType(unitId, controlType) {
        const group = app().querySelector(`#${unitId}_controlnet_type_filter_radio`);
        if (!group) return false;
        const radio = group.querySelector(`input[type=radio][value="${controlType}"]`);
        if (radio) {
            if (radio.checked) return true;
            radio.click();
            return true;
        }
        // the option controlnet_control_type_dropdown makes it a dropdown
        return (await choose(group, (v) => v === controlType)) !== null;
    }

    // A unit's ids begin `{tab}_controlnet_ControlNet-{unit}`, but sd-webui-controlnet set to one
    // unit names it plain `ControlNet` (scripts/controlnet.py ui(): no unit tabs then); Forge's
    // built-in one keeps `ControlNet-0`.
    function findUnit(root, tab, unit) {
        const names = unit === 0 ? ['ControlNet-0', 'ControlNet'] : [`ControlNet-${unit}`];
        return names.map((name) => `${tab}_controlnet_${name}`)
            .find((id) => root.querySelector(`#${id}_controlnet_enable_checkbox`)) || null;
    }

    /**
     * Send `file` (the map the tab wrote: a gradio file value or a URL) to ControlNet unit `unit`
     * (a number) of `tab` ("txt2img" | "img2img"); `kind` "depth" or "normal". Resolves to a note.
     */
    async function sendToControlNet(tab, unit, kind, file) {
        const url = fileUrl(file);
        if (!url) return 'Nothing to send yet: make the maps first.';
        const root = app().querySelector(`#${tab}_controlnet`);
        if (!root) return `ControlNet is not in ${tab}.`;
        const unitId = findUnit(root, tab, unit);
        if (!unitId) return `ControlNet has no unit ${unit} in ${tab}.`;
        const enable = root.querySelector(`#${unitId}_controlnet_enable_checkbox`);
        const png = new File([await fetchPng(url)], fileName(file, kind), {type: 'image/png'});

        switchTo(tab);
        await openAccordion(root.querySelector('#controlnet'));
        await openUnit(enable, root, unit);

        const independent = root.querySelector(`#${unitId}_controlnet_same_img2img_checkbox input`);
        if (independent && !independent.checked) {
            // img2img: the unit's own image panel shows (and is cleared) once this is ticked
            independent.click();
            await waitFor(() => visible(app().querySelector(`#${unitId}_input_image`)));
        }
        const input = await imageInput(unitId);
        if (!input) return `Cannot find the image of ControlNet unit ${unit} in ${tab}.`;
        setFile(input, png);

        const box = enable.querySelector('input[type=checkbox]');
        await sleep(0);
        if (box && !box.checked) box.click();

        const controlType = kind === 'normal' ? 'NormalMap' : 'Depth';
        const preprocessor = app().querySelector(`#${unitId}_controlnet_preprocessor_dropdown`);
        const model = app().querySelector(`#${unitId}_controlnet_model_dropdown`);
        const modelBefore = dropdownValue(model);
        const preprocessorBefore = dropdownValue(preprocessor);
        if (!(await chooseControlType(unitId, controlType))) return `Cannot set the Control Type to ${controlType}.`;
        // ControlNet answers a new Control Type on the server with that type's default preprocessor
        // and model: wait for that answer before choosing our own.
        await waitFor(() => dropdownValue(preprocessor) !== preprocessorBefore, 3000);
        await sleep(100);
        const none = await choose(preprocessor, (v) => String(v).toLowerCase() === 'none');
        const notes = [`Sent the ${kind} map to ${tab} ControlNet unit ${unit}`];
        if (none === null) notes.push('could not set the preprocessor to none: please do');
        const pattern = new RegExp(kind, 'i');
        const chosen = await choose(model, (v) => pattern.test(String(v)));
        if (chosen === null) {
            if (modelBefore !== null && dropdownValue(model) !== modelBefore) {
                await choose(model, (v) => v === modelBefore);
            }
            notes.push(`no ${kind} model is listed in ControlNet: the model is left as it was`);
        } else {
            notes.push(`model ${chosen}`);
        }
        const note = notes.join('; ') + '.';
        showNote(root, unitId, note);
        return note;
    }

    // The note also shows beside the unit's model, where the user now looks (one per unit sent to).
    function showNote(root, unitId, text) {
        const model = app().querySelector(`#${unitId}_controlnet_model_dropdown`);
        if (!model || !model.parentElement) return;
        const note = document.createElement('div');
        note.className = 'depth-tools-cn-note';
        note.style.cssText = 'font-size: var(--text-sm); opacity: 0.8; padding: 2px 4px; flex-basis: 100%;';
        note.textContent = `Depth Tools: ${text}`;
        model.parentElement.appendChild(note);
    }

    // "Depth + normal": the depth map to `unit`, the normal map to the next unit (`files`: the two
    // PNGs the tab wrote, depth first), as a render user sets up two ControlNet units by hand.
    async function sendBoth(tab, unit, files) {
        const depth = await sendToControlNet(tab, unit, 'depth', files[0]);
        if (!depth.startsWith('Sent')) return depth;
        return `${depth} ${await sendToControlNet(tab, unit + 1, 'normal', files[1])}`;
    }

    /**
     * Send the tab's maps (`files`: a gradio file value, a list of them, or a URL) to ControlNet
     * unit `unit` of `tab` ("txt2img" | "img2img"); `kind` as the tab's radio names it: a depth
     * map, a normal map, or "Depth + normal" (the second file to the next unit).
     */
    window.depthToolsSendToControlNet = async function (tab, unit, kind, files) {
        tab = String(tab || 'txt2img').toLowerCase().includes('img2img') ? 'img2img' : 'txt2img';
        unit = Number.parseInt(String(unit).replace(/\D+/g, ''), 10) || 0;
        kind = String(kind);
        try {
            for (const old of app().querySelectorAll(`#${tab}_controlnet .depth-tools-cn-note`)) old.remove();
            if (/\+/.test(kind)) {
                if (!Array.isArray(files) || files.length < 2) return 'Make the depth and normal maps first.';
                return await sendBoth(tab, unit, files);
            }
            return await sendToControlNet(tab, unit, /normal/i.test(kind) ? 'normal' : 'depth', files);
        } catch (error) {
            console.error('Depth Tools: send to ControlNet failed', error);
            return `Could not send to ControlNet: ${error && error.message ? error.message : error}`;
        }
    };
})();
