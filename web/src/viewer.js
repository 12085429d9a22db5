// Viewer bundle (global `OosBpmn`): the read-only NavigatedViewer for case diagrams and the
// semantic differ for the designer's version diff. The bpmn.io watermark stays visible (bpmn-js licence).
import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';
import { diff } from 'bpmn-js-differ';

export { NavigatedViewer, diff };
