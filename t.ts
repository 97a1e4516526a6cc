import { EmbeddedExplainer } from './llm/embedded/explainer';
import { EmbeddedSimulator } from './llm/embedded/simulator';
(async () => {
const animals = new Set(['dog','horse','cat','cow','bird','fish','lion']);
const sents = [['the','dog','barked','at','the','cat'],['a','horse','ran','in','the','field'],['cows','eat','grass'],['the','bird','sang'],['a','small','fish','swam'],['he','wrote','a','letter'],['the','car','was','red'],['she','likes','music'],['rain','fell','all','day']];
const rec = (s: string[]) => ({ tokens: s, activations: s.map(w => animals.has(w) || w==='cows' ? 5 : 0) });
const u = { unit: 0, top: sents.slice(0,5).map(rec), random: sents.slice(5).map(rec) };
const t = performance.now();
const [e] = await new EmbeddedExplainer().explain([u]);
console.log(e, performance.now() - t);
const sim = new EmbeddedSimulator();
console.log(await sim.simulate(e!.label, [['the','elephant','and','the','sheep','ate'], ['a','wolf','chased','rabbits'], ['the','table','is','wooden']]));
for (const l of ['animals', 'animal words', 'kinds of vehicle', 'the words "of" and "in"', 'words ending in "-ing"', 'words for people']) console.log(l, '=>', (await sim.simulate(l, [['dogs','of','cars','running','teacher','truck','in']]))[0]);
})();
