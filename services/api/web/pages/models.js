// Models the group can use: bundled ones and the group's trained versions, each with its card.
import { html } from 'htm/preact';
import { ModelCard } from './submit.js';
import { ErrorNote, useApi } from './parts.js';

export function ModelsPage() {
  const models = useApi('/v1/models');
  return html`
    <h1>Models</h1>
    <${ErrorNote} error=${models.error} />
    <div class="grid">
      ${(models.data?.items ?? []).map((m) => html`<section class="card" aria-label=${`Model ${m.name}`} data-model=${m.name}>
        <${ModelCard} model=${m}>
          <p class="hint">Versions: ${m.versions.join(', ')} · ${m.latest.card.architecture ? `${m.latest.card.architecture.name} ${m.latest.card.architecture.width}/${m.latest.card.architecture.depth}` : ''} · sha256 <code class="hash">${m.latest.sha256.slice(0, 12)}</code></p>
          <a class="button small" href="#/restore">Restore with ${m.name}</a>
        </${ModelCard}>
      </section>`)}
    </div>`;
}
