// The workflows a Legible worker registers (the bundle's entry point).
export { legiblePipeline, legibleSweep, progressQuery } from './pipeline';
export { legibleLayer } from './layer';
export { fanOutSteps } from './fan-out';
