// Picks the explainer and simulator a pipeline step asks for: the embedded provider, or an OpenAI-compatible endpoint.
import type { Provider } from '../pipelines/schema';
import { EmbeddedExplainer, MAX_LISTED_WORDS } from './embedded/explainer';
import { EmbeddedSimulator } from './embedded/simulator';
import { ChatClient, OpenAIExplainer, OpenAISimulator } from './openai';
import type { Explainer, ProviderContext, Simulator } from './types';

export function explainerFor(settings: Provider, ctx: ProviderContext): Explainer {
  return settings.provider === 'embedded' ? new EmbeddedExplainer(settings.maxListedWords ?? MAX_LISTED_WORDS) : new OpenAIExplainer(new ChatClient(settings, ctx));
}

export function simulatorFor(settings: Provider, ctx: ProviderContext): Simulator {
  return settings.provider === 'embedded' ? new EmbeddedSimulator() : new OpenAISimulator(new ChatClient(settings, ctx), settings.sentencesPerCall);
}
