global using System.Net;
global using System.Text;
global using NUnit.Framework;
global using SpamFilterMilter.Contract;
global using SpamFilterMilter.Testing;
global using SpamFilterMilter.Tests.Support;
