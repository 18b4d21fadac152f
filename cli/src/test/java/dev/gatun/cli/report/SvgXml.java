package dev.gatun.cli.report;

import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

import javax.xml.parsers.DocumentBuilderFactory;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Test helper: parses an SVG string as XML (failing on malformed markup) and lists elements by name. */
final class SvgXml {
    private final Document document;

    SvgXml(String svg) throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        document = factory.newDocumentBuilder().parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
    }

    String rootName() {
        return document.getDocumentElement().getLocalName();
    }

    List<Element> elements(String name) {
        NodeList nodes = document.getElementsByTagNameNS("http://www.w3.org/2000/svg", name);
        List<Element> list = new ArrayList<>();
        for (int i = 0; i < nodes.getLength(); i++) {
            list.add((Element) nodes.item(i));
        }
        return list;
    }

    List<String> texts() {
        return elements("text").stream().map(Element::getTextContent).toList();
    }

    /** The contents of the text elements of class {@code cls}, in document order. */
    List<String> texts(String cls) {
        return elements("text").stream().filter(e -> e.getAttribute("class").equals(cls))
                .map(Element::getTextContent).toList();
    }
}
