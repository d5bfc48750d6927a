// The chat's behaviour in the browser: what Gradio's components do not do on their own.
(() => {
  const BOX = "#qa-question textarea";
  const box = () => document.querySelector(BOX);
  const askButton = () => document.querySelector("#qa-question button.submit-button, #qa-question button[aria-label='Submit']");
  const chatLog = () => document.querySelector("#qa-chat [role=log]") || document.querySelector("#qa-chat .bubble-wrap");
  const focusBox = () => setTimeout(() => box()?.focus(), 0);

  // Ask is disabled while the question box is empty; Enter on an empty box does nothing.
  function syncAsk() {
    const button = askButton();
    const empty = !(box()?.value || "").trim();
    if (button && button.disabled !== empty) button.disabled = empty;
  }
  document.addEventListener("input", (event) => { if (event.target.matches?.(BOX)) syncAsk(); }, true);
  document.addEventListener("keydown", (event) => {
    if (event.target.matches?.(BOX) && event.key === "Enter" && !event.shiftKey && !event.target.value.trim()) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Set a Gradio textbox's value as if typed, so its component state follows.
  function typeInto(textarea, value) {
    textarea.value = value;
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
  }

  document.addEventListener("click", (event) => {
    const target = event.target.closest?.("button, [data-testid=example], .example");
    if (!target) return;
    if (target.matches(".qa-copy")) {
      copyText(target.dataset.copy).then(() => { target.textContent = "Copied"; });
      setTimeout(() => { target.textContent = "Copy answer"; }, 2000);
    } else if (target.matches(".qa-ref")) {
      const message = target.closest(".qa-answer, .qa-refusal");
      const source = message?.querySelector(`.qa-source[data-ref="${target.dataset.ref}"]`);
      if (source) {
        source.scrollIntoView({ block: "center", behavior: "smooth" });
        source.classList.add("qa-flash");
        setTimeout(() => source.classList.remove("qa-flash"), 1600);
      }
    } else if (target.matches(".qa-read-as-edit")) {
      typeInto(box(), target.dataset.question);
      syncAsk();
      focusBox();
    } else if (target.matches(".qa-open")) {
      const request = document.querySelector("#qa-open-request textarea, #qa-open-request input");
      typeInto(request, JSON.stringify({ source: target.dataset.source, start: +target.dataset.start,
                                         end: +target.dataset.end, nonce: Date.now() }));
      setTimeout(() => document.querySelector("#qa-open-button")?.click(), 50);
    } else if (target.closest("#qa-question") || target.closest("#qa-chat") && !target.closest(".qa-source")) {
      focusBox();  // Ask, an example, retry, feedback: keep typing where you were
    }
  }, true);

  // The chat's Edit box starts with the message's HTML (questions are shown as escaped HTML):
  // put the question as typed there instead. DOMParser builds an inert document, so nothing in it runs.
  function plainEditBoxes(chat) {
    for (const area of chat.querySelectorAll("textarea.edit-textarea")) {
      if (!area.value.includes('class="qa-question"')) continue;
      const parsed = new DOMParser().parseFromString(area.value.replace(/<br>/g, "\n"), "text/html");
      typeInto(area, parsed.body.textContent);
    }
  }

  // Show the start of each new answer (not its end), and give each message a readable name.
  let lastReply = "";
  function onChatChange() {
    syncAsk();
    const chat = document.querySelector("#qa-chat");
    if (!chat) return;
    plainEditBoxes(chat);
    for (const message of chat.querySelectorAll("[aria-label]")) {
      const label = message.getAttribute("aria-label");
      if (label.includes("<")) {
        const who = message.closest("[data-testid=user]") || label.startsWith("user") ? "You" : "qa";
        message.setAttribute("aria-label", `${who}: ${message.innerText.trim().slice(0, 200)}`);
      }
    }
    const bots = chat.querySelectorAll("[data-testid=bot]");
    const users = chat.querySelectorAll("[data-testid=user]");
    const last = bots[bots.length - 1];
    const key = last ? `${bots.length}:${last.querySelector(".qa-pending") ? "pending" : "done"}` : "";
    if (key && key !== lastReply && users.length) {
      lastReply = key;
      const log = chatLog();
      const question = users[users.length - 1];
      if (log) log.scrollTop += question.getBoundingClientRect().top - log.getBoundingClientRect().top - 8;
    }
  }
  // On a phone the list of chats starts folded away, or it would cover the chat.
  let sidebarChecked = false;
  function foldSidebarOnPhones() {
    const toggle = document.querySelector("#qa-sidebar button[aria-label='Toggle Sidebar'], button[aria-label='Toggle Sidebar']");
    if (sidebarChecked || !toggle) return;
    sidebarChecked = true;
    foldIfNarrow(toggle);
  }
  let autoFolded = false;  // folded by us, so it opens again when the window widens
  function foldIfNarrow(toggle) {
    if (window.innerWidth < 768 && toggle?.closest(".sidebar")?.classList.contains("open")) {
      toggle.click();
      autoFolded = true;
    }
  }
  let wasNarrow = window.innerWidth < 768;
  window.addEventListener("resize", () => {
    const narrow = window.innerWidth < 768;
    const toggle = document.querySelector("button[aria-label='Toggle Sidebar']");
    if (narrow && !wasNarrow) foldIfNarrow(toggle);
    if (!narrow && wasNarrow && autoFolded && !toggle?.closest(".sidebar")?.classList.contains("open")) {
      toggle?.click();
      autoFolded = false;
    }
    wasNarrow = narrow;
  });

  new MutationObserver(() => requestAnimationFrame(() => { foldSidebarOnPhones(); onChatChange(); }))
    .observe(document.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: ["aria-label"] });
})();
