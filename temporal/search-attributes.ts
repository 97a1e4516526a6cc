// The custom search attributes Legible runs carry, so a person finds a run in the Temporal UI by pipeline name and
// sees its current layer and step. Imported by workflow code too: nothing here may do I/O.
import { defineSearchAttributeKey } from '@temporalio/common';

export const PIPELINE_ATTRIBUTE = defineSearchAttributeKey('LegiblePipeline', 'KEYWORD');
export const PIPELINE_HASH_ATTRIBUTE = defineSearchAttributeKey('LegiblePipelineHash', 'KEYWORD');
export const LAYER_ATTRIBUTE = defineSearchAttributeKey('LegibleLayer', 'KEYWORD');
export const STEP_ATTRIBUTE = defineSearchAttributeKey('LegibleStep', 'KEYWORD');

export const SEARCH_ATTRIBUTES = [PIPELINE_ATTRIBUTE, PIPELINE_HASH_ATTRIBUTE, LAYER_ATTRIBUTE, STEP_ATTRIBUTE];
