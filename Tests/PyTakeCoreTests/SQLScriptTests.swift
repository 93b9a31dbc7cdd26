import PyTakeCore
import Testing

@Suite struct SQLScriptTests {
    @Test func splitsOnSemicolonsOutsideQuotesCommentsAndDollarBodies() {
        let script = """
            -- leading comment; not a statement
            CREATE TABLE a (x text DEFAULT 'a;b');
            /* block; comment */
            CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;
            CREATE FUNCTION g() RETURNS int AS $body$ BEGIN RETURN 2; END; $body$ LANGUAGE plpgsql;
            INSERT INTO "we;ird" VALUES ('it''s; fine');
            -- trailing comment
            """
        let statements = SQLScript.statements(in: script)
        #expect(statements.count == 4)
        #expect(statements[0].hasSuffix("CREATE TABLE a (x text DEFAULT 'a;b')"))
        #expect(statements[1].contains("$$ SELECT 1; $$"))
        #expect(statements[2].contains("BEGIN RETURN 2; END;"))
        #expect(statements[3] == "INSERT INTO \"we;ird\" VALUES ('it''s; fine')")
    }

    @Test func emptyAndCommentOnlyScriptsHaveNoStatements() {
        #expect(SQLScript.statements(in: "").isEmpty)
        #expect(SQLScript.statements(in: "-- nothing\n/* still nothing */ ;\n").isEmpty)
    }
}

@Suite struct SQLScriptEscapeTests {
    @Test func backslashEscapesInEStrings() {
        let statements = SQLScript.statements(in: #"SELECT E'it\'s; here'; SELECT 'plain\'; SELECT 2;"#)
        #expect(statements == [#"SELECT E'it\'s; here'"#, #"SELECT 'plain\'"#, "SELECT 2"])
    }
}
