// Loads an XForm in JavaRosa (the form engine of ODK Collect) with its media files, as a phone
// opens a new form, then runs commands and prints one result line per command:
//   value PATH          -> "value PATH=<value>"
//   set PATH VALUE      -> "set PATH=<answer status>" (ok / constraint / required)
//   choices PATH        -> "choices PATH=<n>:<value>,<value>,..." (the choices offered now)
//   count PATH          -> "count PATH=<number of nodes>" (e.g. repeat instances)
//   walk PREFIX         -> "walk PREFIX=<questions shown>/<of which under PREFIX>": steps
//                          through the form as a user swiping to the end (a repeat with
//                          jr:count gets its copies on the way)
// Used by tests/forms/test_javarosa.py; not part of fieldcase.
import java.io.*;
import java.nio.file.*;
import java.util.*;
import org.javarosa.core.model.*;
import org.javarosa.core.model.data.*;
import org.javarosa.core.model.instance.*;
import org.javarosa.core.reference.*;
import org.javarosa.core.services.IPropertyManager;
import org.javarosa.core.services.PropertyManager;
import org.javarosa.core.services.properties.IPropertyRules;
import org.javarosa.form.api.*;
import org.javarosa.xform.util.XFormUtils;
import org.javarosa.xpath.XPathParseTool;
import org.javarosa.xpath.expr.XPathPathExpr;

public class FormProbe {
    static final class FileReference implements Reference {
        private final Path path;
        private final String uri;
        FileReference(Path path, String uri) { this.path = path; this.uri = uri; }
        public boolean doesBinaryExist() { return Files.exists(path); }
        public InputStream getStream() throws IOException { return Files.newInputStream(path); }
        public String getURI() { return uri; }
        public String getLocalURI() { return path.toString(); }
        public boolean isReadOnly() { return true; }
        public OutputStream getOutputStream() { throw new UnsupportedOperationException(); }
        public void remove() { throw new UnsupportedOperationException(); }
        public Reference[] probeAlternativeReferences() { return new Reference[0]; }
    }

    static final class MediaFactory implements ReferenceFactory {
        private final Path media;
        MediaFactory(Path media) { this.media = media; }
        public boolean derives(String uri) {
            return uri.startsWith("jr://file-csv/") || uri.startsWith("jr://file/");
        }
        public Reference derive(String uri) {
            return new FileReference(media.resolve(uri.substring(uri.lastIndexOf('/') + 1)), uri);
        }
        public Reference derive(String uri, String context) { return derive(uri); }
    }

    // The phone's properties (device id, user name) for the metadata preloads.
    static final class Properties implements IPropertyManager {
        private final Map<String, List<String>> values = new HashMap<>();
        public List<String> getProperty(String name) { return values.get(name); }
        public void setProperty(String name, String value) { values.put(name, List.of(value)); }
        public void setProperty(String name, List<String> value) { values.put(name, value); }
        public String getSingularProperty(String name) {
            List<String> found = values.get(name);
            return found == null || found.isEmpty() ? "" : found.get(0);
        }
        public void addRules(IPropertyRules rules) {}
        public List<IPropertyRules> getRules() { return new ArrayList<>(); }
    }

    static FormIndex find(FormEntryController controller, String path) {
        controller.jumpToIndex(FormIndex.createBeginningOfFormIndex());
        int event;
        while ((event = controller.stepToNextEvent()) != FormEntryController.EVENT_END_OF_FORM) {
            FormIndex index = controller.getModel().getFormIndex();
            if (event == FormEntryController.EVENT_QUESTION
                    && index.getReference().toString(false).equals(path)) {
                return index;
            }
        }
        throw new IllegalArgumentException("no relevant question at " + path);
    }

    static TreeReference ref(String path) throws Exception {
        return ((XPathPathExpr) XPathParseTool.parseXPath(path)).getReference();
    }

    public static void main(String[] args) throws Exception {
        PropertyManager.setPropertyManager(new Properties());
        ReferenceManager.instance().addReferenceFactory(new MediaFactory(Paths.get(args[1])));
        FormDef form;
        try (InputStream in = new FileInputStream(args[0])) {
            form = XFormUtils.getFormFromInputStream(in);
        }
        form.initialize(true, new InstanceInitializationFactory());  // a new form: first load
        FormEntryController controller = new FormEntryController(new FormEntryModel(form));
        for (int i = 2; i < args.length; i++) {
            String command = args[i];
            String path = args[++i];
            switch (command) {
                case "value": {
                    TreeElement node = form.getMainInstance().resolveReference(ref(path));
                    IAnswerData value = node == null ? null : node.getValue();
                    System.out.println("value " + path + "=" + (value == null ? "" : value.getDisplayText()));
                    break;
                }
                case "set": {
                    String answer = args[++i];
                    FormIndex index = find(controller, path);
                    int status = controller.answerQuestion(index, new StringData(answer), true);
                    String word = status == FormEntryController.ANSWER_OK ? "ok"
                        : status == FormEntryController.ANSWER_CONSTRAINT_VIOLATED ? "constraint"
                        : "required";
                    System.out.println("set " + path + "=" + word);
                    break;
                }
                case "choices": {
                    FormIndex index = find(controller, path);
                    List<String> values = new ArrayList<>();
                    for (SelectChoice choice : controller.getModel().getQuestionPrompt(index).getSelectChoices()) {
                        values.add(choice.getValue());
                    }
                    System.out.println("choices " + path + "=" + values.size() + ":" + String.join(",", values));
                    break;
                }
                case "count": {
                    List<TreeReference> nodes = form.getEvaluationContext().expandReference(ref(path));
                    System.out.println("count " + path + "=" + (nodes == null ? 0 : nodes.size()));
                    break;
                }
                case "walk": {
                    controller.jumpToIndex(FormIndex.createBeginningOfFormIndex());
                    int questions = 0;
                    int under = 0;
                    int event;
                    while ((event = controller.stepToNextEvent()) != FormEntryController.EVENT_END_OF_FORM) {
                        if (event == FormEntryController.EVENT_QUESTION) {
                            questions++;
                            String at = controller.getModel().getFormIndex().getReference().toString(false);
                            if (at.startsWith(path)) {
                                under++;
                            }
                        }
                    }
                    System.out.println("walk " + path + "=" + questions + "/" + under);
                    break;
                }
                default:
                    throw new IllegalArgumentException(command);
            }
        }
    }
}
