// Modeler bundle (global `OosBpmnModeler`): the bpmn-js Modeler with bpmnlint's "recommended"
// rules packed in at build time (.bpmnlintrc), so linting runs live in the browser without a server.
import Modeler from 'bpmn-js/lib/Modeler';
import lintModule from 'bpmn-js-bpmnlint';
import lintConfig from '../.bpmnlintrc';

export { Modeler, lintModule, lintConfig };
