// The workflows a Legible worker registers (the bundle's entry point).
export { legiblePipeline, progressQuery } from './pipeline';
